"""Retraining: warm-start from the current model on the corpus plus rated poems, then measure the
candidate against the current model and decide. Runs as a child process of the bot:

    python -m train.retrain --options retrain.json   (RetrainOptions as JSON)

It never touches the database: the bot hands it texts and reads the report. The candidate is
written to --out (atomically, by the training loop); whether it is promoted is the caller's move.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from train.cliches import HEADS, THEME_HEADS
from train.gate import decide, reader_metrics
from train.retrain_options import RetrainOptions

log = logging.getLogger(__name__)


def mix_extra(extra: list[str], corpus_size: int, share: float, max_repeat: int) -> list[str]:
    """Repeat the rated poems so they weigh a little, never more than `share` of all poems."""
    if not extra or share <= 0:
        return []
    budget = int(share * corpus_size / (1 - share))
    repeats = max(1, min(max_repeat, budget // len(extra)))
    mixed = extra * repeats
    return mixed[: max(budget, 0)] if len(mixed) > budget else mixed


@dataclass
class ClichePlan:
    """How the candidate's clichés are measured: heads a round (0: the parent's table is
    carried over) and the seconds that is expected to take."""

    heads: int
    seconds: float = 0.0


def plan_cliches(opts: RetrainOptions, seconds_per_poem: float, available_s: float) -> ClichePlan:
    """As many heads a round as the cliché budget allows (at most cliche_heads); none below
    cliche_min_heads, where a round's counts are noise."""
    rounds = opts.cliche_rounds + opts.cliche_theme_rounds * THEME_HEADS / HEADS
    budget = max(0.0, min(opts.cliche_minutes * 60, available_s))
    heads = min(opts.cliche_heads, int(budget / max(seconds_per_poem * rounds, 1e-9)))
    if heads < opts.cliche_min_heads:
        return ClichePlan(0)
    return ClichePlan(heads, heads * rounds * seconds_per_poem)


def refresh_cliches(opts: RetrainOptions, plan: ClichePlan) -> dict:
    """Measure the candidate's clichés as planned, or carry the parent's table over; either way
    model.json records which. Returns a summary for the report."""
    from engine.checkpoint import load_model_dir, read_meta, resave
    from train.cliches import measure
    from train.corpus import read_split, read_themed

    parent = read_meta(opts.base)
    if plan.heads:
        real = read_split(opts.corpus, "val") + read_split(opts.corpus, "test")
        titles = [theme for theme, _ in read_themed(opts.corpus, "train")]
        record = measure(
            opts.out, real, plan.heads, opts.seed, opts.cliche_rounds,
            titles=titles, theme_rounds=opts.cliche_theme_rounds,
            theme_heads=round(plan.heads * THEME_HEADS / HEADS),
            note={"measured_by": "retrain"},
        )  # fmt: skip
        return {"measured": True, "heads": plan.heads, "count": len(record["ngrams"])}
    table = parent.get("cliches")
    if not isinstance(table, dict):
        log.warning("the parent %s has no cliché table to carry over", opts.base)
        return {"measured": False, "count": 0, "carried_over_from": None}
    version = parent.get("version", opts.base.name)
    carried = {**table, "carried_over_from": version,
               "carried_because": "the retrain budget could not fit a measurement"}  # fmt: skip
    resave(load_model_dir(opts.out), {"cliches": carried})
    return {"measured": False, "count": len(table.get("ngrams", {})), "carried_over_from": version}


def carry_plan_data(opts: RetrainOptions) -> None:
    """The parent's plan data (plan.json: the lexicon and corpus statistics the planner reads)
    goes with the candidate unchanged: a retrain changes the weights, not what words mean."""
    from engine.checkpoint import PLAN, load_model_dir, read_meta, resave

    if not read_meta(opts.base).get("plan_sha256"):
        return
    data = json.loads((opts.base / PLAN).read_text(encoding="utf-8"))
    resave(load_model_dir(opts.out), {"plan_carried_from": read_meta(opts.base).get("version")},
           plan_data=data)  # fmt: skip


class Clock:
    """The whole run's budget: what is left of it, in seconds."""

    def __init__(self, minutes: float):
        self.started, self.total = time.perf_counter(), minutes * 60

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.total - self.elapsed()


def retrain(opts: RetrainOptions) -> dict:
    """Measure the current model, train the candidate, measure its clichés, measure it the same
    way, and decide; all within opts.max_minutes. Returns the report."""
    from train.corpus import read_split, read_themed
    from train.loop import TrainOptions, train

    clock = Clock(opts.max_minutes)
    corpus_size = len(read_split(opts.corpus, "train"))
    if not opts.extra_texts:
        return {"promote": False, "skipped": True, "failed_metric": None,
                "reason": "nothing to learn: no new rated poems", "rated_poems": 0}  # fmt: skip
    rated = sorted(set(opts.extra_texts))
    test_items = read_themed(opts.corpus, "test")
    base = reader_metrics(opts.base, opts.heads, test_items, rated)
    gate_s = clock.elapsed() * 1.2 + 5  # the candidate's gate, a little slower to be safe
    plan = plan_cliches(opts, base["seconds_per_poem"], clock.left() - gate_s)
    train_s = clock.left() - gate_s - plan.seconds
    if plan.heads and train_s < 0.25 * clock.total:  # training first: carry the clichés over
        plan = ClichePlan(0)
        train_s = clock.left() - gate_s
    train_s = max(train_s, 0.05 * clock.total)
    extra = mix_extra(opts.extra_texts, corpus_size, opts.extra_share, opts.max_repeat)
    train(
        TrainOptions(
            corpus=opts.corpus, out=opts.out, init_from=opts.base, extra_texts=extra,
            lr=opts.lr, tokens_per_batch=opts.tokens_per_batch, max_minutes=train_s / 60,
            max_steps=opts.max_steps, eval_minutes=min(opts.eval_minutes, train_s / 60),
            seed=opts.seed, progress=False, epochs=1000,
        )
    )  # fmt: skip
    trained_s = clock.elapsed()
    carry_plan_data(opts)
    cliches = refresh_cliches(opts, plan)
    candidate = reader_metrics(opts.out, opts.heads, test_items, rated)
    promote, reason, failed = decide(base, candidate, opts)
    return {
        "base": base,
        "candidate": candidate,
        "promote": promote,
        "reason": reason,
        "failed_metric": failed,
        "cliches": cliches,
        "rated_poems": len(opts.extra_texts),
        "rated_poems_mixed": len(extra),
        "corpus_poems": corpus_size,
        "minutes": round(clock.elapsed() / 60, 2),
        "budget_minutes": {
            "total": opts.max_minutes,
            "training": round(train_s / 60, 2),
            "trained_until": round(trained_s / 60, 2),
        },
        "options": opts.model_dump(mode="json", exclude={"extra_texts", "heads"}),
    }


def write_json_atomic(path: Path, data: dict) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
        json.dump(data, f, ensure_ascii=False, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(f.name, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Retrain a candidate model and judge it.")
    parser.add_argument("--options", type=Path, required=True, help="RetrainOptions as JSON")
    args = parser.parse_args(argv)
    opts = RetrainOptions.model_validate_json(args.options.read_text("utf-8"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # leave a core to the bot
    report = retrain(opts)
    write_json_atomic(opts.report, report)
    verdict = "skip" if report.get("skipped") else "promote" if report["promote"] else "reject"
    log.info("decision: %s (%s)", verdict, report["reason"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
