"""The `acrostic card` command: write a poem as `acrostic poem` does and save it as a PNG card."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import fail
from bot.cli.poem_options import (
    Beam,
    Five,
    Head,
    Keywords,
    Model,
    Novelty,
    Outline,
    Position,
    Rhyme,
    Sample,
    Seed,
    Seven,
    Temperature,
    Theme,
    Tones,
    TopK,
    TopP,
    notes,
    request_of,
)


def card(
    words: Head,
    out: Annotated[Path, typer.Option(help="Where to write the PNG card.")] = Path("card.png"),
    font: Annotated[
        str | None,
        typer.Option(
            help="Font file (path#N for face N of a .ttc); default: $CANGTOU_CARD_FONT, "
            "the pip Noto Serif SC, the system's Noto Serif CJK, then Noto Sans CJK."
        ),
    ] = None,
    five: Five = False,
    seven: Seven = False,
    beam: Beam = None,
    sample: Sample = False,
    theme: Theme = None,
    keywords: Keywords = None,
    outline: Outline = True,
    temperature: Temperature = 0.8,
    top_p: TopP = 0.9,
    top_k: TopK = 0,
    seed: Seed = None,
    rhyme: Rhyme = True,
    tones: Tones = "off",
    novelty: Novelty = True,
    position: Position = "head",
    model: Model = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the poem as a JSON object.")
    ] = False,
) -> None:
    """Write an acrostic poem on HEAD and save it as a vertical (竖排) PNG card."""
    from bot.cards.render import CardError, FontNotFound, find_font, render_card

    if five and seven:
        fail("choose one of --five and --seven")
    if tones not in ("strict", "loose", "off"):
        fail(f"--tones {tones}: one of strict, loose or off")
    if beam is not None and beam < 1:
        fail(f"--beam {beam}: a beam is 1 to 64 wide (leave it out for the default search)")
    head, theme, own = request_of(words, theme, keywords)
    writable_or_fail(out)  # before the poem is written: a bad --out costs nothing
    try:
        face = find_font(font)  # before torch and the model load: a missing font fails fast
    except FontNotFound as e:
        fail(str(e))
    from engine import HeadError, Poet
    from engine.checkpoint import ModelDirError

    try:
        poet = Poet.load(model)
        sampling = {"temperature": temperature, "top_p": top_p, "top_k": top_k, "seed": seed}
        poem = poet.acrostic(
            head,
            chars_per_line=5 if five else 7,
            mode="sample" if sample else "beam" if beam else "diverse",
            beam_size=beam or 8,
            theme=theme,
            keywords=own,
            outline=outline,
            rhyme=rhyme,
            tones=None if tones == "off" else tones,
            novelty=novelty,
            position=int(position) if position.isdigit() else position,
            **(sampling if sample else {}),
        )
        png = render_card(poem, font=face)
    except (HeadError, ModelDirError, CardError, ValueError) as e:
        fail(str(e))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(png)
    except OSError as e:
        fail(f"--out {out}: cannot write the card ({e.strerror or e})")
    if as_json:
        typer.echo(json.dumps({**poem.to_dict(), "card": str(out)}, ensure_ascii=False))
        return
    for line in poem.display_lines():
        typer.echo(line)
    for note in notes(poem):
        typer.echo(note)
    typer.echo(f"card: wrote {out} ({face.name}, {poem.model_version})")


def writable_or_fail(out: Path) -> None:
    """One line and exit 2 for an --out that cannot take a PNG: empty, a directory, a place
    whose parent is a file or not writable (/proc/…)."""
    if not str(out).strip() or str(out) == ".":
        fail("--out: give a file name for the card, e.g. card.png")
    if out.is_dir():
        fail(f"--out {out} is a directory; give a file name, e.g. {out / 'card.png'}")
    parent = out.parent if str(out.parent) else Path(".")
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK) or str(out).startswith("/proc/"):
        fail(f"--out {out}: cannot write there")
