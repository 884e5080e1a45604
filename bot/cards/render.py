"""Poem cards: a poem as a PNG in vertical 竖排 layout, its head characters in vermilion.

Columns read top to bottom and right to left: the title 《…》 first (at the right), then one
column per line, then a seal with the poem id and model version. The ，。 marks are omitted: each
line is its own column, as in a printed vertical book of poems, so a column break is the line
break. The title's 《》 are set as their vertical forms ︽︾. Every character must be in the
font: a missing glyph raises `MissingGlyph`, it never prints a box.

    png = render_card(poem)  # an engine Poem, Poem.to_dict(), a PoemView, or any mapping with
                             # lines or text, position (or params["position"]), model_version
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from bot.cards.fonts import CardFont, FontNotFound, find_font

__all__ = [
    "CardError",
    "CardFont",
    "CardPoem",
    "FontNotFound",
    "MissingGlyph",
    "card_poem",
    "find_font",
    "layout",
    "render_card",
]

PAPER = (244, 236, 216)
INK = (38, 34, 32)
VERMILION = (200, 50, 36)
RULE = (214, 198, 170)  # the faint column rules (乌丝栏)
MAX_SIDE = 1600
BASE_SIZE = 64  # character size in pixels, shrunk when a card would exceed max_side
PUNCTUATION = set("，。、；：！？,.;:!? \t\r\n")
VERTICAL_FORMS = {"《": "︽", "》": "︾", "「": "﹁", "」": "﹂"}
_DRAWING = threading.Lock()  # one FreeType face is not safe to rasterise from two threads


class CardError(ValueError):
    """The poem cannot be drawn: wrong shape, or a character the font lacks."""


class MissingGlyph(CardError):
    def __init__(self, chars: Iterable[str], font: CardFont):
        self.chars = sorted(set(chars))
        listed = " ".join(f"{c} (U+{ord(c):04X})" for c in self.chars)
        super().__init__(f"the card font {font.name} ({font.path}) has no glyph for {listed}")


@dataclass(frozen=True)
class CardPoem:
    """What a card shows: the lines without punctuation, where the head characters stand."""

    lines: tuple[str, ...]
    at: int  # 0-based index of the head character within each line
    title: str
    poem_id: str = ""  # as the seal shows it, e.g. "#2s"
    model_version: str = ""


def head_index(position: str | int | None, chars_per_line: int) -> int:
    """'head' → 0, 'tail' → the last, an int or digit string n → n - 1 (1-based, 藏中)."""
    if position in (None, "head", "藏头"):
        return 0
    if position in ("tail", "藏尾"):
        return chars_per_line - 1
    n = int(position) if str(position).isdigit() else 0
    if not 1 <= n <= chars_per_line:
        raise CardError(f"position must be head, tail or 1..{chars_per_line}, not {position!r}")
    return n - 1


def card_poem(poem: Any, **override: Any) -> CardPoem:
    """Read a poem from an engine Poem, its to_dict(), a PoemView, a stored row or a mapping:
    lines (or text), position (or params["position"]), poem_id, model_version, title.
    Keyword arguments override what the poem says; `at` is a 0-based head index."""
    fields = dict(poem) if isinstance(poem, Mapping) else dict(vars(poem))
    fields.update(override)
    raw = fields.get("lines") or _split(fields.get("text") or fields.get("poem") or "")
    lines = tuple("".join(ch for ch in line if ch not in PUNCTUATION) for line in raw)
    cpl = len(lines[0]) if lines else 0
    if not 1 <= len(lines) <= 12 or cpl not in (5, 7) or any(len(x) != cpl for x in lines):
        raise CardError(f"a card holds 1–12 lines of 5 or 7 characters, not {list(lines)}")
    if fields.get("at") is not None:
        at = int(fields["at"])
        if not 0 <= at < cpl:
            raise CardError(f"head index {at} is outside a line of {cpl}")
    else:
        position = fields.get("position") or (fields.get("params") or {}).get("position")
        at = head_index(position, cpl)
    poem_id = fields.get("poem_id") or fields.get("id")
    if isinstance(poem_id, int):
        from bot.base.ids import to_base36

        poem_id = f"#{to_base36(poem_id)}"
    return CardPoem(
        lines=lines,
        at=at,
        title=fields.get("title") or "".join(line[at] for line in lines),
        poem_id=str(poem_id or ""),
        model_version=str(fields.get("model_version") or ""),
    )


def _split(text: str) -> list[str]:
    """'甲，乙。' → ['甲', '乙']."""
    return [line for line in re.split(r"[，。\n]", text) if line.strip()]


@dataclass(frozen=True)
class Layout:
    """Where everything goes, in pixels; `cell(i, j)` is line i's j-th character box."""

    width: int
    height: int
    size: int  # character size
    margin: int
    pitch: int  # column width
    row: int  # row height
    lines: int

    def column_left(self, i: int) -> int:
        """Left edge of line i's column (line 0 is right beside the title)."""
        return self.width - self.margin - (i + 2) * self.pitch

    def cell(self, i: int, j: int) -> tuple[int, int, int, int]:
        left, top = self.column_left(i), self.margin + j * self.row
        return left, top, left + self.pitch, top + self.row

    def title_box(self) -> tuple[int, int, int, int]:
        right = self.width - self.margin
        return right - self.pitch, self.margin, right, self.height - self.margin

    def seal_box(self) -> tuple[int, int, int, int]:
        left = self.column_left(self.lines)
        return left, self.margin, left + self.pitch, self.height - self.margin


def layout(lines: int, chars_per_line: int, max_side: int = MAX_SIDE) -> Layout:
    """Units of the character size: a margin of 0.9, columns of 1.6, rows of 1.2, and beside the
    line columns one column for the title and one for the seal."""
    width_units, height_units = 1.8 + 1.6 * (lines + 2), 1.8 + 1.2 * chars_per_line
    size = min(BASE_SIZE, int(max_side / max(width_units, height_units)))
    margin, pitch, row = round(0.9 * size), round(1.6 * size), round(1.2 * size)
    width = 2 * margin + pitch * (lines + 2)
    return Layout(width, 2 * margin + row * chars_per_line, size, margin, pitch, row, lines)


def render_card(
    poem: Any,
    *,
    font: CardFont | str | os.PathLike | None = None,
    max_side: int = MAX_SIDE,
    **override: Any,
) -> bytes:
    """The poem as PNG bytes (deterministic: the same poem and font give the same bytes).
    `override` takes the fields of `card_poem`: at, position, title, poem_id, model_version."""
    card = card_poem(poem, **override)
    face = font if isinstance(font, CardFont) else find_font(font)
    title = "︽" + "".join(VERTICAL_FORMS.get(c, c) for c in card.title) + "︾"
    missing = face.missing("".join(card.lines) + title + _seal_text(card))
    if missing:
        raise MissingGlyph(missing, face)
    box = layout(len(card.lines), len(card.lines[0]), max_side)
    image = Image.new("RGB", (box.width, box.height), PAPER)
    draw = ImageDraw.Draw(image)
    with _DRAWING:
        _draw_frame(draw, box)
        for i, line in enumerate(card.lines):
            for j, ch in enumerate(line):
                colour = VERMILION if j == card.at else INK
                _draw_char(draw, box.cell(i, j), ch, face.at(box.size), colour)
        _draw_title(draw, box, title, face)
        _draw_seal(image, box, card, face)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _draw_char(draw, cell, ch: str, font: ImageFont.FreeTypeFont, colour) -> None:
    """Centred on the ideographic em box, which spans 0.12 em below the baseline to 0.88 above."""
    left, top, right, bottom = cell
    baseline = (top + bottom) / 2 + 0.38 * font.size
    draw.text(((left + right) / 2, baseline), ch, font=font, fill=colour, anchor="ms")


def _draw_frame(draw, box: Layout) -> None:
    inset = box.margin // 2
    draw.rectangle((inset, inset, box.width - inset - 1, box.height - inset - 1), outline=INK)
    top, bottom = box.margin - box.row // 4, box.height - box.margin + box.row // 4
    for i in range(box.lines + 1):  # the rules between title, line and seal columns
        x = box.column_left(i) + box.pitch
        draw.line((x, top, x, bottom), fill=RULE, width=max(1, box.size // 32))


def _draw_title(draw, box: Layout, title: str, face: CardFont) -> None:
    """The title column, shrunk when 《…》 is taller than the poem's columns."""
    left, top, right, bottom = box.title_box()
    row = min(box.row, (bottom - top) / len(title))
    font = face.at(max(8, int(row / 1.2)))
    for k, ch in enumerate(title):
        cell = (left, top + k * row, right, top + (k + 1) * row)
        _draw_char(draw, cell, ch, font, INK)


SEAL = "藏头"  # the seal's characters: the card says what it is in Chinese
MARGIN_GREY = (120, 104, 88)


def _seal_text(card: CardPoem) -> str:
    """Every character the seal and the margin draw (the font must hold them)."""
    return SEAL + card.poem_id + card.model_version


def _draw_seal(image: Image.Image, box: Layout, card: CardPoem, face: CardFont) -> None:
    """A square vermilion seal at the foot of its column, left of the last line, reading 藏头
    top to bottom in paper colour; above it, small in the margin, the poem id and the model
    version, turned to read top to bottom as Latin text does in 竖排."""
    left, top, right, bottom = box.seal_box()
    side = min(right - left, round(box.size * 0.95))
    x0 = (left + right - side) // 2
    y0 = bottom - side
    draw = ImageDraw.Draw(image)
    draw.rectangle((x0, y0, x0 + side, bottom), fill=VERMILION)
    font = face.at(max(8, int(side * 0.42)))
    for k, ch in enumerate(SEAL):
        cell = (x0, y0 + k * side / len(SEAL), x0 + side, y0 + (k + 1) * side / len(SEAL))
        _draw_char(draw, cell, ch, font, PAPER)
    _draw_margin(image, (left, top, right, y0 - round(side * 0.3)), card, face, box)


def _draw_margin(image: Image.Image, area, card: CardPoem, face: CardFont, box: Layout) -> None:
    """The poem id and the model version, small, turned, at the foot of `area`."""
    text = "  ".join(t for t in (card.poem_id, card.model_version) if t)
    left, top, right, bottom = area
    if not text or bottom - top < 10:
        return
    size = max(8, round(box.size * 0.2))
    font = face.at(size)
    if font.getlength(text) > 0.95 * (bottom - top):  # a very long version: shrink to fit
        size = max(6, int(size * 0.95 * (bottom - top) / font.getlength(text)))
        font = face.at(size)
    strip = Image.new("RGB", (round(font.getlength(text) + size), round(size * 1.6)), PAPER)
    ImageDraw.Draw(strip).text((size / 2, size * 0.8), text, font=font, fill=MARGIN_GREY,
                               anchor="lm")  # fmt: skip
    turned = strip.transpose(Image.Transpose.ROTATE_270)
    image.paste(turned, ((left + right - turned.width) // 2, bottom - turned.height))
