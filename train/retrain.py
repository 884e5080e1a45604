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
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

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


def compliance(model_dir: Path, heads: list[str]) -> dict:
    """Format and rhyme rates of beam-8 七言 poems for `heads` (the prosody gate)."""
    from engine import Poet

    poet = Poet.load(model_dir)
    ok_format = ok_rhyme = 0
    for head in heads:
        checks = poet.acrostic(head, chars_per_line=7).checks
        ok_format += bool(checks["acrostic"] and checks["form"])
        ok_rhyme += bool(checks["rhyme"]) or not checks.get("rhyme_applicable", True)
    n = max(len(heads), 1)
    return {"format_rate": round(ok_format / n, 4), "rhyme_rate": round(ok_rhyme / n, 4)}


def test_nats(model_dir: Path, corpus: Path) -> float:
    from engine.checkpoint import load_model_dir
    from train.corpus import read_themed
    from train.dataset import PoemBuckets
    from train.loop import evaluate

    loaded = load_model_dir(model_dir)
    data = PoemBuckets(read_themed(corpus, "test"), loaded.vocab)
    return evaluate(loaded.model.float(), data, torch.device("cpu"))


def decide(base: dict, candidate: dict, margin: float, compliance_drop: float) -> tuple[bool, str]:
    """Promote only if the test cross-entropy is not worse by more than `margin` and no
    compliance rate dropped by more than `compliance_drop`."""
    delta = candidate["test_nats_per_char"] - base["test_nats_per_char"]
    if not math.isfinite(candidate["test_nats_per_char"]) or delta > margin:
        return False, f"test cross-entropy {delta:+.4f} nats/char (margin {margin})"
    for rate in ("format_rate", "rhyme_rate"):
        drop = base[rate] - candidate[rate]
        if drop > compliance_drop:
            return False, f"{rate} dropped by {drop:.4f}"
    return True, f"test cross-entropy {delta:+.4f} nats/char, compliance held"


def judge(
    base: Path, candidate: Path, corpus: Path, heads: list[str], margin: float, drop: float
) -> dict:
    """Measure both models the same way (frozen test split, compliance on `heads`); decide."""
    measured = {}
    for name, path in (("base", base), ("candidate", candidate)):
        measured[name] = {"test_nats_per_char": round(test_nats(path, corpus), 4)}
        measured[name].update(compliance(path, heads))
    promote, reason = decide(measured["base"], measured["candidate"], margin, drop)
    return {**measured, "promote": promote, "reason": reason}


def retrain(opts: RetrainOptions) -> dict:
    """Train the candidate, measure both models the same way, and return the report."""
    from train.corpus import read_split
    from train.loop import TrainOptions, train

    started = time.perf_counter()
    corpus_size = len(read_split(opts.corpus, "train"))
    extra = mix_extra(opts.extra_texts, corpus_size, opts.extra_share, opts.max_repeat)
    train(
        TrainOptions(
            corpus=opts.corpus, out=opts.out, init_from=opts.base, extra_texts=extra,
            lr=opts.lr, tokens_per_batch=opts.tokens_per_batch, max_minutes=opts.max_minutes,
            max_steps=opts.max_steps, eval_minutes=opts.eval_minutes, seed=opts.seed,
            progress=False, epochs=1000,
        )
    )  # fmt: skip
    verdict = judge(
        opts.base, opts.out, opts.corpus, opts.heads, opts.margin, opts.compliance_drop
    )
    return {
        **verdict,
        "rated_poems": len(opts.extra_texts),
        "rated_poems_mixed": len(extra),
        "corpus_poems": corpus_size,
        "minutes": round((time.perf_counter() - started) / 60, 2),
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
    log.info("decision: %s (%s)", "promote" if report["promote"] else "reject", report["reason"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
