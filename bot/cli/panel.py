"""The `acrostic panel` commands: blind sheets and pairs for raters, and their scores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import fail
from train import panel, panel_score

panel_app = typer.Typer(
    help="Blind quality panels: sheets for raters, secret keys, scores.",
    no_args_is_help=True,
)

SEED_HELP = "Seed of the shuffles and ids: the same seed writes the same files."
FORCE_HELP = "Overwrite an existing key (ratings made against the old one become useless)."


def _poem_set(spec: str) -> list[panel.Poem]:
    """The poems of NAME=FILE, tagged with NAME."""
    name, sep, file = spec.partition("=")
    if not sep or not name.strip() or not file:
        fail(f"expected NAME=FILE, got {spec!r}")
    if not Path(file).is_file():
        fail(f"no such poem set: {file}")
    try:
        poems = panel.read_poem_set(Path(file), name.strip())
    except (ValueError, OSError) as e:
        fail(str(e))
    if not poems:
        fail(f"{file} holds no poems")
    return poems


def _write(out: Path, files: dict[str, str], key: str, force: bool) -> None:
    if (out / key).exists() and not force:
        fail(f"{out / key} exists; pick another --out or pass --force")
    out.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (out / name).write_text(body, encoding="utf-8")
        typer.echo(f"wrote {out / name}")


@panel_app.command()
def make(
    source: Annotated[
        list[str], typer.Option(help="NAME=FILE: a JSONL poem set and its secret name; repeat.")
    ],
    out: Annotated[Path, typer.Option(help="Panel directory to write.")],
    seed: Annotated[int, typer.Option(help=SEED_HELP)] = 0,
    raters: Annotated[
        int,
        typer.Option(min=1, help="Raters: each gets its own shuffle and ids (sheet-2.md …)."),
    ] = 1,
    force: Annotated[bool, typer.Option(help=FORCE_HELP)] = False,
) -> None:
    """Blind sheets of every poem (sheet.md) and of the acrostics with heads (relevance.md)."""
    sets = [_poem_set(spec) for spec in source]
    names = [poems[0].source for poems in sets]
    if len(set(names)) < len(names):
        fail(f"source names must differ: {', '.join(names)}")
    files = panel.make_sheet([p for poems in sets for p in poems], seed, raters)
    _write(out, files, "key.json", force)


@panel_app.command()
def pairs(
    a: Annotated[str, typer.Option("--a", help="NAME=FILE: the baseline poem set.")],
    b: Annotated[str, typer.Option("--b", help="NAME=FILE: the challenger poem set.")],
    out: Annotated[Path, typer.Option(help="Panel directory to write.")],
    seed: Annotated[int, typer.Option(help=SEED_HELP)] = 0,
    force: Annotated[bool, typer.Option(help=FORCE_HELP)] = False,
) -> None:
    """Blind pairs, one per head in both sets, A/B order drawn per pair (pairs.md)."""
    try:
        files = panel.make_pairs(_poem_set(a), _poem_set(b), seed)
    except ValueError as e:
        fail(str(e))
    _write(out, files, "pairs_key.json", force)


@panel_app.command()
def score(
    directory: Annotated[Path, typer.Argument(help="Panel directory (with its keys).")],
    ratings: Annotated[
        list[Path] | None,
        typer.Option(help="Sheet and relevance answers (default: DIR/ratings*.txt)."),
    ] = None,
    pair_ratings: Annotated[
        list[Path] | None,
        typer.Option(help="Pair answers (default: DIR/pairs_ratings*.txt)."),
    ] = None,
) -> None:
    """Means by source, rater agreement and pair win rates; also written to DIR/scores.md."""
    try:
        report = panel_score.score(directory, ratings or None, pair_ratings or None)
    except (ValueError, OSError) as e:
        fail(str(e))
    typer.echo(report)
    (directory / "scores.md").write_text(report, encoding="utf-8")


@panel_app.command()
def real(
    out: Annotated[Path, typer.Option(help="Poem set (JSONL) to write.")],
    corpus: Annotated[Path, typer.Option(help="Corpus directory (its test split).")] = Path(
        "data/corpus"
    ),
    n: Annotated[int, typer.Option(help="How many poems.")] = 30,
    chars: Annotated[int, typer.Option(help="Characters a line.")] = 7,
    lines: Annotated[int, typer.Option(help="Lines a poem.")] = 4,
    seed: Annotated[int, typer.Option(help="Which poems are picked.")] = 0,
) -> None:
    """Real test-split poems of one form, as a calibration poem set with no head."""
    from train.corpus import read_split

    if not (corpus / "test.txt").exists():
        fail(f"{corpus} has no corpus; run `acrostic corpus build` first")
    try:
        poems = panel.real_poems(read_split(corpus, "test"), n, chars, lines, seed)
    except ValueError as e:
        fail(str(e))
    out.write_text(panel.poem_set_text(poems), encoding="utf-8")
    typer.echo(f"wrote {len(poems)} poems to {out}")


@panel_app.command()
def poems(
    out: Annotated[Path, typer.Option(help="JSONL poem set to write.")],
    heads: Annotated[Path, typer.Option(help="Heads file ('#' lines are comments).")] = Path(
        "engine/shipped/heads.txt"
    ),
    model: Annotated[Path | None, typer.Option(help="Model directory (default: shipped).")] = None,
    five: Annotated[bool, typer.Option("--five", help="五言 instead of 七言.")] = False,
    mode: Annotated[str, typer.Option(help="diverse (the default search), beam or sample.")] = (
        "diverse"
    ),
    beam: Annotated[int, typer.Option(help="Beam width in beam mode.")] = 8,
    groups: Annotated[int | None, typer.Option(help="Diverse search: beam groups.")] = None,
    width: Annotated[int | None, typer.Option(help="Diverse search: width per group.")] = None,
    diversity: Annotated[float | None, typer.Option(help="Diverse search: group penalty.")] = None,
    mi_weight: Annotated[float | None, typer.Option(help="Rerank: λ on log p(poem).")] = None,
    cliche_weight: Annotated[float | None, typer.Option(help="Scale of cliché penalties.")] = None,
    outline: Annotated[
        bool, typer.Option(help="Plan keywords with the model's plan data (engine.outline).")
    ] = True,
) -> None:
    """Write one poem per head with the given model and search, as a poem set for a panel;
    print the set's formula metrics. A heads line `王小明 生日` is a head with a theme."""
    import dataclasses
    import json

    from engine import HeadError, Poet
    from engine.poet import DEFAULT_SEARCH
    from train.evaluate import read_heads
    from train.formulas import formula_metrics

    overrides = {
        "groups": groups, "width": width, "diversity": diversity, "mi_weight": mi_weight,
        "cliche_weight": cliche_weight,
    }  # fmt: skip
    chosen = {k: v for k, v in overrides.items() if v is not None}
    search = dataclasses.replace(DEFAULT_SEARCH, **chosen)
    poet = Poet.load(model)
    written = []
    themes = []
    for request in read_heads(heads):
        head, _, theme = request.partition(" ")
        try:
            poem = poet.acrostic(
                head,
                chars_per_line=5 if five else 7,
                mode=mode,
                beam_size=beam,
                search=search,
                seed=len(written),
                theme=theme.strip() or None,
                outline=outline,
            )
        except HeadError as e:
            fail(f"{head}: {e}")
        written.append(poem)
        themes.append(theme.strip())
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {"head": p.head, **({"theme": t} if t else {}), "text": p.text,
         **({"outline": p.params["outline"]} if "outline" in p.params else {})}
        for p, t in zip(written, themes, strict=True)
    ]  # fmt: skip
    out.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )
    metrics = formula_metrics([p.lines for p in written])
    typer.echo(json.dumps({"poems": len(written), **metrics}, ensure_ascii=False))
