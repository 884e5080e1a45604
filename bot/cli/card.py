"""The `acrostic card` command: write a poem as `acrostic poem` does and save it as a PNG card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import fail


def card(
    head: Annotated[
        str, typer.Argument(help="The characters that start the lines, e.g. 算法进阶.")
    ],
    out: Annotated[Path, typer.Option(help="Where to write the PNG card.")] = Path("card.png"),
    font: Annotated[
        str | None,
        typer.Option(
            help="Font file (path#N for face N of a .ttc); default: $CANGTOU_CARD_FONT, "
            "the pip Noto Serif SC, the system's Noto Serif CJK, then Noto Sans CJK."
        ),
    ] = None,
    five: Annotated[bool, typer.Option("--five", help="五言: five characters a line.")] = False,
    seven: Annotated[
        bool, typer.Option("--seven", help="七言: seven characters a line (default).")
    ] = False,
    beam: Annotated[
        int | None,
        typer.Option(help="Plain beam search of this width instead of the default search."),
    ] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Sample instead of searching.")] = False,
    theme: Annotated[
        str | None, typer.Option(help="What the poem is about (default: the head itself).")
    ] = None,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.8,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass.")] = 0.9,
    top_k: Annotated[
        int, typer.Option(help="Keep only the k likeliest characters (0 = all).")
    ] = 0,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (same seed, same poem).")] = None,
    rhyme: Annotated[bool, typer.Option(help="Even lines rhyme in one 平水韵 group.")] = True,
    tones: Annotated[str, typer.Option(help="平仄 pattern: strict, loose or off.")] = "off",
    novelty: Annotated[bool, typer.Option(help="Never copy a whole corpus line.")] = True,
    position: Annotated[
        str, typer.Option(help="head (藏头), tail (藏尾) or 1-7 (藏中).")
    ] = "head",
    model: Annotated[
        Path | None, typer.Option(help="Model directory (default: the shipped model).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the poem as a JSON object.")
    ] = False,
) -> None:
    """Write an acrostic poem on HEAD and save it as a vertical (竖排) PNG card."""
    from bot.cards import CardError, FontNotFound, find_font, render_card

    if five and seven:
        fail("choose one of --five and --seven")
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
            rhyme=rhyme,
            tones=None if tones == "off" else tones,
            novelty=novelty,
            position=int(position) if position.isdigit() else position,
            **(sampling if sample else {}),
        )
        png = render_card(poem, font=face)
    except (HeadError, ModelDirError, CardError, ValueError) as e:
        fail(str(e))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    if as_json:
        typer.echo(json.dumps({**poem.to_dict(), "card": str(out)}, ensure_ascii=False))
        return
    for line in poem.display_lines():
        typer.echo(line)
    typer.echo(f"card: wrote {out} ({face.name}, {poem.model_version})")
