"""Poem cards (bot/cards/render.py): every glyph in the font, a bounded PNG, vermilion head characters
where the position puts them, the font lookup order, and `acrostic card`."""

import io
import os

import numpy as np
import pytest
from fontTools.ttLib import TTFont
from PIL import Image
from typer.testing import CliRunner

from bot.cards import fonts as card_fonts
from bot.cards import render as cards
from bot.cards.render import (
    CardError,
    FontNotFound,
    MissingGlyph,
    card_poem,
    find_font,
    layout,
    render_card,
)

pytestmark = pytest.mark.unit

POOL = "春风秋雨山水花月云天江河日夜明清长远白青松竹梅兰石泉归来何处人间不见知多少声"


@pytest.fixture(scope="module")
def face():
    try:
        return find_font()
    except FontNotFound as e:
        if os.environ.get("CI"):  # .ci/run installs fonts-noto-cjk: CI never skips these
            pytest.fail(f"CI has no CJK font: {e}")
        pytest.skip(f"no CJK font installed ({e})")


def make_poem(n: int, cpl: int) -> list[str]:
    """n lines of cpl distinct-looking characters from POOL."""
    return ["".join(POOL[(7 * i + j) % len(POOL)] for j in range(cpl)) for i in range(n)]


def is_vermilion(pixels: np.ndarray) -> np.ndarray:
    r, g, b = (pixels[..., k].astype(int) for k in range(3))
    return (r > 140) & (r - g > 70) & (r - b > 70)


def is_ink(pixels: np.ndarray) -> np.ndarray:
    return pixels.max(axis=-1) < 120


def count(image: np.ndarray, box, test) -> int:
    left, top, right, bottom = (round(v) for v in box)
    return int(test(image[top:bottom, left:right]).sum())


def render(lines, face, **kwargs) -> np.ndarray:
    png = render_card({"lines": lines, "model_version": "cangtou-v1", **kwargs}, font=face)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        image.verify()  # a valid PNG, checksums included
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"))


def test_every_glyph_of_a_card_is_in_the_fonts_cmap(face):
    lines = make_poem(12, 7)
    card = card_poem({"lines": lines, "poem_id": 12345, "model_version": "cangtou-v1"})
    with TTFont(face.path, fontNumber=face.index, lazy=True) as font:
        cmap = font.getBestCmap()
    shown = "".join(lines) + "︽︾" + card.title + card.poem_id + card.model_version
    assert [ch for ch in shown if ord(ch) not in cmap] == []
    assert face.missing(shown) == []


@pytest.mark.parametrize("n", [1, 4, 12])
@pytest.mark.parametrize("cpl", [5, 7])
def test_a_card_is_a_bounded_deterministic_png(face, n, cpl):
    lines = make_poem(n, cpl)
    first = render_card({"lines": lines, "model_version": "v"}, font=face)
    assert first == render_card({"lines": lines, "model_version": "v"}, font=face)
    with Image.open(io.BytesIO(first)) as image:
        assert image.format == "PNG"
        size = image.size
    box = layout(n, cpl)
    assert size == (box.width, box.height)
    assert min(size) >= 300 and max(size) <= cards.MAX_SIDE


@pytest.mark.parametrize(
    ("position", "cpl", "at"),
    [("head", 5, 0), ("head", 7, 0), ("tail", 5, 4), ("tail", 7, 6), (3, 7, 2)],
)
def test_head_characters_are_vermilion_in_their_cells_only(face, position, cpl, at):
    n = 4
    lines = make_poem(n, cpl)
    image = render(lines, face, position=position)
    box = layout(n, cpl)
    for i in range(n):
        for j in range(cpl):
            red = count(image, box.cell(i, j), is_vermilion)
            if j == at:
                assert red > 0.02 * box.size**2, (i, j, red)  # a character's worth of strokes
            else:
                assert red == 0, (i, j, red)
                assert count(image, box.cell(i, j), is_ink) > 0, (i, j)
    assert count(image, box.title_box(), is_vermilion) == 0  # the title is ink
    assert count(image, box.seal_box(), is_vermilion) > 0  # the seal


def test_cards_drawn_in_parallel_threads_are_identical(face):
    from concurrent.futures import ThreadPoolExecutor

    poem = {"lines": make_poem(8, 7), "poem_id": 7, "model_version": "cangtou-v1"}
    with ThreadPoolExecutor(4) as pool:
        pngs = set(pool.map(lambda _: render_card(poem, font=face), range(8)))
    assert len(pngs) == 1


def test_positions_from_the_engine_the_bot_and_a_zero_based_index_agree(face):
    lines = make_poem(2, 7)
    tail = {"lines": lines, "params": {"position": "tail"}}  # Poem.to_dict()
    assert card_poem(tail).at == 6
    assert card_poem({"lines": lines, "position": "4"}).at == 3  # PoemView / stored options
    assert card_poem({"lines": lines, "position": 4}).at == 3  # the engine's 1-based 藏中
    assert card_poem({"lines": lines}, at=5).at == 5
    text = "，".join(lines) + "。"
    assert card_poem({"text": text, "position": "tail"}).title == lines[0][6] + lines[1][6]
    assert card_poem({"text": text, "poem_id": 71}).poem_id == "#1z"


@pytest.mark.parametrize(
    "lines", [[], ["春风"], make_poem(13, 5), ["春风秋雨山", "春风秋雨山水花"]]
)
def test_a_poem_of_the_wrong_shape_is_a_card_error(lines):
    with pytest.raises(CardError, match="1–12 lines of 5 or 7"):
        card_poem({"lines": lines})


def test_a_character_missing_from_the_font_is_a_clear_error(face):
    with TTFont(face.path, fontNumber=face.index, lazy=True) as font:
        cmap = font.getBestCmap()
    # a rare ideograph (CJK Extension B and on) that this font lacks
    absent = next(chr(c) for c in range(0x20000, 0x2A6E0) if c not in cmap)
    with pytest.raises(MissingGlyph) as raised:
        render_card({"lines": ["春风秋雨" + absent]}, font=face)
    assert raised.value.chars == [absent]
    assert f"U+{ord(absent):04X}" in str(raised.value) and face.name in str(raised.value)


def test_the_font_setting_wins_and_a_bad_one_is_named(face, monkeypatch, tmp_path):
    monkeypatch.setenv(card_fonts.FONT_ENV, f"{face.path}#{face.index}")
    assert (find_font().path, find_font().source) == (face.path, "explicit")
    monkeypatch.setenv(card_fonts.FONT_ENV, str(tmp_path / "nope.otf"))
    with pytest.raises(FontNotFound, match=f"{card_fonts.FONT_ENV}: no such font file"):
        find_font()
    with pytest.raises(FontNotFound, match="--font: no such font file"):
        find_font(tmp_path / "nope.otf")


def test_without_any_font_the_error_says_how_to_install_one(monkeypatch):
    monkeypatch.delenv(card_fonts.FONT_ENV, raising=False)
    monkeypatch.setattr(card_fonts, "_pip_font", lambda: None)
    monkeypatch.setattr(card_fonts, "FONT_DIRS", ())
    with pytest.raises(FontNotFound, match=r"pip install pylopdf-fonts-zh-cn.*fonts-noto-cjk"):
        find_font()


def test_system_fonts_serif_first_then_sans_in_the_chinese_face(monkeypatch, tmp_path):
    serif = card_fonts._system_fonts(tuple(card_fonts.FONT_DIRS)).get("NotoSerifCJK-Regular.ttc")
    if serif is None and not os.environ.get("CI"):
        pytest.skip("Debian's fonts-noto-cjk is not installed")
    monkeypatch.delenv(card_fonts.FONT_ENV, raising=False)
    monkeypatch.setattr(card_fonts, "_pip_font", lambda: None)
    found = find_font()
    assert (found.name, found.source) == ("Noto Serif CJK SC", "system")
    sans_only = tmp_path / "fonts"
    sans_only.mkdir()
    (sans_only / "NotoSansCJK-Regular.ttc").symlink_to(serif.replace("Serif", "Sans"))
    monkeypatch.setattr(card_fonts, "FONT_DIRS", (str(sans_only),))
    assert find_font().name == "Noto Sans CJK SC"


def test_acrostic_card_writes_a_card_with_the_poem_commands_options(
    face, tiny_model_dir, tmp_path
):
    import typer.main

    from bot.cli import app

    command = typer.main.get_command(app)
    options = {name: {p.name for p in command.commands[name].params} for name in ("poem", "card")}
    assert options["card"] == options["poem"] | {"out", "font"}

    out = tmp_path / "cards" / "card.png"
    args = ["card", "春风秋雨", "--five", "--position", "tail", "--out", str(out)]
    res = CliRunner().invoke(app, [*args, "--model", str(tiny_model_dir)])
    assert res.exit_code == 0, res.output
    assert [line[4] for line in res.stdout.splitlines()[:4]] == list("春风秋雨")
    assert f"wrote {out}" in res.stdout
    with Image.open(out) as image:
        assert image.size == (layout(4, 5).width, layout(4, 5).height)

    res = CliRunner().invoke(app, ["card", "春风", "--font", str(tmp_path / "x.otf")])
    assert res.exit_code == 2 and "no such font file" in res.output


@pytest.mark.parametrize("where", ["dir", "", "/proc/cangtou.png", "file/card.png"])
def test_acrostic_card_refuses_an_unwritable_out_in_one_line_before_the_poem(
    where, tiny_model_dir, tmp_path
):
    from bot.cli import app

    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    out = where if where in ("", "/proc/cangtou.png") else str(tmp_path / where)
    args = ["card", "春风", "--out", out, "--model", str(tiny_model_dir)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and res.output.count("\n") == 1
    assert "春" not in res.output  # refused before the poem was written


def test_acrostic_card_refuses_a_file_that_is_not_a_font(tmp_path, tiny_model_dir):
    from bot.cli import app

    fake = tmp_path / "fake.otf"
    fake.write_bytes(b"not a font at all")
    args = ["card", "春风", "--font", str(fake), "--model", str(tiny_model_dir)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "is not a usable font file" in res.output
    assert "Traceback" not in res.output
