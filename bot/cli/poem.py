"""`acrostic poem`: one poem from the command line, as text or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import fail


def poem(
    head: Annotated[
        str, typer.Argument(help="The characters that start the lines, e.g. 算法进阶.")
    ],
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
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Write an acrostic poem whose lines start with the characters of HEAD."""
    from engine import HeadError, Poet
    from engine.checkpoint import ModelDirError
    from engine.checks import footer

    if five and seven:
        fail("choose one of --five and --seven")
    try:
        poet = Poet.load(model)
        kwargs = {"temperature": temperature, "top_p": top_p, "top_k": top_k, "seed": seed}
        result = poet.acrostic(
            head,
            chars_per_line=5 if five else 7,
            mode="sample" if sample else "beam" if beam else "diverse",
            beam_size=beam or 8,
            theme=theme,
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
