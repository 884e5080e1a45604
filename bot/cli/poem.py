"""`acrostic poem`: one poem from the command line, as text or JSON."""

from __future__ import annotations

import json
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


def poem(
    words: Head,
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
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Write an acrostic poem whose lines start with the characters of HEAD."""
    from engine import HeadError, Poet
    from engine.checkpoint import ModelDirError
    from engine.checks import footer

    if five and seven:
        fail("choose one of --five and --seven")
    if tones not in ("strict", "loose", "off"):
        fail(f"--tones {tones}: one of strict, loose or off")
    if beam is not None and beam < 1:
        fail(f"--beam {beam}: a beam is 1 to 64 wide (leave it out for the default search)")
    head, theme, own = request_of(words, theme, keywords)
    try:
        poet = Poet.load(model)
        kwargs = {"temperature": temperature, "top_p": top_p, "top_k": top_k, "seed": seed}
        result = poet.acrostic(
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
            **(kwargs if sample else {}),
        )
    except (HeadError, ModelDirError, ValueError) as e:
        fail(str(e))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    for line in result.display_lines():
        typer.echo(line)
    for note in notes(result):
        typer.echo(note)
    extra = f"seed {result.params['seed']}" if sample else f"beam {beam}" if beam else "diverse"
    extra += f", theme {result.params['theme']}"
    note = ""
    if "fallbacks" in result.params:
        note = (
            "  (unknown characters conditioned on: "
            + ", ".join(f"{k}→{v['token']}" for k, v in result.params["fallbacks"].items())
            + ")"
        )
    typer.echo(footer(result.checks))
    typer.echo(f"— {result.model_version}, {extra}, score {result.score:.3f}{note}", err=True)
