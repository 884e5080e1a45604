"""`acrostic cliches`: measure a model's clichés and store them in its directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

# train.cliches' defaults (it imports torch; the CLI starts without it); a test keeps them equal
HEADS, ROUNDS, MIN_SHARE, MIN_RATIO, THEME_ROUNDS = 600, 6, 0.005, 2.0, 2


def cliches(
    model: Annotated[Path, typer.Option(help="Model directory to measure and update.")],
    corpus: Annotated[Path, typer.Option(help="Corpus directory (real poems).")] = Path(
        "data/corpus"
    ),
    heads: Annotated[int, typer.Option(help="Generated heads per round.")] = HEADS,
    rounds: Annotated[
        int, typer.Option(help="Rounds; each penalises what the earlier ones found.")
    ] = ROUNDS,
    seed: int = 0,
    min_share: Annotated[
        float, typer.Option(help="A cliché is in at least this share of the generated poems…")
    ] = MIN_SHARE,
    min_ratio: Annotated[
        float, typer.Option(help="…and this many times as often as in real poems.")
    ] = MIN_RATIO,
    theme_rounds: Annotated[
        int,
        typer.Option(help="Then rounds of corpus-title heads (themed formulas: 秋风萧瑟 …)."),
    ] = THEME_ROUNDS,
) -> None:
    """Find the 3-grams the default search writes far more often than real poems (overall, and
    as the opening of a line with a given head character) and store them in MODEL/model.json,
    where the search penalises them. Never measured on the public or held-out heads."""
    from engine.checkpoint import ModelDirError
    from train.cliches import measure
    from train.corpus import read_split, read_themed

    if not (corpus / "val.txt").exists():
        typer.echo(f"error: {corpus} has no corpus; run `acrostic corpus build` first", err=True)
        raise typer.Exit(2)
    real = read_split(corpus, "val") + read_split(corpus, "test")
    titles = [theme for theme, _ in read_themed(corpus, "train")]
    try:
        record = measure(
            model, real, heads, seed, rounds, min_share, min_ratio,
            titles=titles, theme_rounds=theme_rounds,
        )  # fmt: skip
    except ModelDirError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    shown = dict(list(record["ngrams"].items())[:30])
    typer.echo(json.dumps({**record, "ngrams": shown, "count": len(record["ngrams"])},
                          ensure_ascii=False, indent=1))  # fmt: skip
