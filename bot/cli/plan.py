"""`acrostic plan`: build a model's plan data (the 意象 lexicon with corpus statistics) and show
the outline the planner draws for a head."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import fail

plan_app = typer.Typer(help="The planner: plan data and outlines.", no_args_is_help=True)


@plan_app.command("build")
def build(
    model: Annotated[Path, typer.Option(help="Model directory to write plan.json into.")],
    corpus: Annotated[Path, typer.Option(help="Corpus directory.")] = Path("data/corpus"),
) -> None:
    """Compile train/imagery.toml and the corpus's keyword statistics into MODEL/plan.json."""
    from engine.checkpoint import ModelDirError
    from train.plan_data import write_plan_data

    if not (corpus / "train.txt").exists():
        fail(f"{corpus} has no corpus; run `acrostic corpus build` first")
    try:
        typer.echo(json.dumps(write_plan_data(model, corpus), ensure_ascii=False))
    except ModelDirError as e:
        fail(str(e))


@plan_app.command("show")
def show(
    heads: Annotated[list[str], typer.Argument(help="Heads (a file with one per line: @FILE).")],
    model: Annotated[Path | None, typer.Option(help="Model directory.")] = None,
    theme: Annotated[str | None, typer.Option(help="The theme (主题).")] = None,
    keywords: Annotated[str, typer.Option(help="The user's 意象, comma-separated.")] = "",
    chars: Annotated[int, typer.Option(help="Characters a line.")] = 7,
    seed: Annotated[int, typer.Option(help="0: the default outline; other: a redraw.")] = 0,
) -> None:
    """Print the outline the planner draws for each head, as a poem would be searched with
    it (the head, theme and keywords checked and normalised as `acrostic poem` does)."""
    from bot.chat.parsing import split_keywords
    from engine.checkpoint import ModelDirError
    from engine.heads import HeadError
    from engine.outline import draw_outline
    from engine.poet import Poet
    from engine.spec import PoemSpec

    if len(heads) == 1 and heads[0].startswith("@"):
        try:
            lines = Path(heads[0][1:]).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            fail(f"{heads[0][1:]}: cannot read the heads ({e.__class__.__name__})")
        heads = [s.strip() for s in lines if s.strip() and not s.startswith("#")]
    try:
        poet = Poet.load(model)
    except ModelDirError as e:
        fail(str(e))
    if poet.planner is None:
        fail(f"{poet.model_version} has no plan data; run `acrostic plan build --model DIR`")
    own = split_keywords(keywords)
    for request in heads:
        head, _, request_theme = request.partition(" ")
        try:
            spec = PoemSpec(head, chars_per_line=chars, theme=theme or request_theme or None,
                            keywords=own, plan_seed=seed)  # fmt: skip
            outline = draw_outline(poet.planner, poet.vocab, spec)
        except (HeadError, ValueError) as e:
            fail(f"{request}: {e}")
        label = f"{spec.head} 主题:{spec.theme}" if spec.theme else spec.head
        typer.echo(f"{label}\t{outline.shown() if outline else ''}")
