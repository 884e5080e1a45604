"""The poem cards' font: found in a fixed order, its cmap read so no glyph is ever missing."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

FONT_ENV = "CANGTOU_CARD_FONT"  # a font file; "path#N" picks face N of a .ttc collection
PIP_FONT = ("pylopdf_fonts_zh_cn", "NotoSerifSC-Regular.otf")  # pip install pylopdf-fonts-zh-cn
# System fonts, best first: Noto Serif CJK (Debian fonts-noto-cjk, other distributions, macOS
# downloads), then the sans face as the fallback.
SYSTEM_FONTS = (
    "NotoSerifCJK-Regular.ttc",
    "NotoSerifCJKsc-Regular.otf",
    "NotoSerifSC-Regular.otf",
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Regular.otf",
    "NotoSansSC-Regular.otf",
)
FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
    "/Library/Fonts",
    "~/Library/Fonts",
)


class FontNotFound(RuntimeError):
    """No CJK font is installed, or the one asked for does not exist."""


@dataclass(frozen=True)
class CardFont:
    path: Path
    index: int  # the face within a .ttc collection (0 for a single font)
    name: str  # its family name, e.g. "Noto Serif CJK SC"
    source: str  # where the lookup found it

    def missing(self, text: str) -> list[str]:
        """The characters of `text` without a glyph in this font."""
        cmap = _cmap(str(self.path), self.index)
        return [ch for ch in dict.fromkeys(text) if not ch.isspace() and ord(ch) not in cmap]

    def at(self, size: int) -> ImageFont.FreeTypeFont:
        return _pil_font(str(self.path), self.index, size)


@lru_cache(maxsize=8)
def _cmap(path: str, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=index, lazy=True) as font:
        return frozenset(font.getBestCmap())


@lru_cache(maxsize=32)
def _pil_font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    # BASIC layout: the same pixels whether or not Pillow was built with libraqm
    return ImageFont.truetype(path, size, index=index, layout_engine=ImageFont.Layout.BASIC)


@lru_cache(maxsize=16)
def _open_font(path: str, index: int | None, source: str) -> CardFont:
    """The face at `index`, or a collection's Simplified Chinese face (not its Japanese first);
    FontNotFound (one line) for a file that is not a font."""
    from fontTools.ttLib import TTLibError

    try:
        return _read_font(path, index, source)
    except (TTLibError, OSError, KeyError, IndexError, ValueError, AssertionError) as e:
        raise FontNotFound(f"{path} is not a usable font file ({type(e).__name__})") from None


def _read_font(path: str, index: int | None, source: str) -> CardFont:
    from fontTools.ttLib import TTCollection, TTFont

    with open(path, "rb") as file:  # ours to close, also when fontTools gives up on it
        if index is None and path.lower().endswith((".ttc", ".otc")):
            collection = TTCollection(file, lazy=True)
            names = [face["name"].getDebugName(1) or "" for face in collection.fonts]
            index = next((i for i, n in enumerate(names) if n.endswith(" SC")), 0)
            return CardFont(Path(path), index, names[index], source)
        font = TTFont(file, fontNumber=index or 0, lazy=True)
        name = font["name"].getDebugName(1) or Path(path).stem
    return CardFont(Path(path), index or 0, name, source)


@lru_cache(maxsize=4)
def _system_fonts(dirs: tuple[str, ...]) -> dict[str, str]:
    """File name → path of the known CJK fonts under the usual font directories."""
    found: dict[str, str] = {}
    for folder in dirs:
        root = Path(folder).expanduser()
        if root.is_dir():
            for name in SYSTEM_FONTS:
                for path in sorted(root.rglob(name)):
                    found.setdefault(name, str(path))
    return found


def _pip_font() -> str | None:
    package, file = PIP_FONT
    spec = importlib.util.find_spec(package)  # found, not imported
    for folder in (spec and spec.submodule_search_locations) or ():
        if (Path(folder) / file).is_file():
            return str(Path(folder) / file)
    return None


def find_font(explicit: str | os.PathLike | None = None) -> CardFont:
    """The card font: `explicit`, else $CANGTOU_CARD_FONT, else the pip-installed Noto Serif SC,
    else the system's Noto Serif CJK, else its Noto Sans CJK; FontNotFound if there is none."""
    wanted = explicit if explicit is not None else os.environ.get(FONT_ENV) or None
    if wanted is not None:
        path, _, index = str(wanted).partition("#")
        if not Path(path).is_file():
            origin = "--font" if explicit is not None else FONT_ENV
            raise FontNotFound(f"{origin}: no such font file: {path}")
        return _open_font(path, int(index) if index.isdigit() else None, "explicit")
    pip = _pip_font()
    if pip:
        return _open_font(pip, None, "pip pylopdf-fonts-zh-cn")
    system = _system_fonts(tuple(FONT_DIRS))
    for name in SYSTEM_FONTS:
        if name in system:
            return _open_font(system[name], None, "system")
    raise FontNotFound(
        "no CJK font for poem cards: `pip install pylopdf-fonts-zh-cn` (make demo does), "
        f"`apt-get install fonts-noto-cjk`, or set {FONT_ENV}=/path/to/font.otf"
    )
