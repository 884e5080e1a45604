"""Retraining: warm-start from the current model on the corpus plus rated poems, then measure the
candidate against the current model and decide. Runs as a child process of the bot:

    python -m train.retrain --base DIR --corpus DIR --extra rated.json --out DIR --report R.json

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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

log = logging.getLogger(__name__)


@dataclass
class RetrainOptions:
    base: Path  # the model being served: warm start and yardstick
    corpus: Path
    out: Path  # where the candidate is written (invisible to the bot until promoted)
    extra_texts: list[str] = field(default_factory=list)
    extra_share: float = 0.05  # rated poems are at most this share of the training poems
    max_repeat: int = 20  # each rated poem is seen at most this many times per epoch
    max_minutes: float = 30.0
    max_steps: int | None = None
    lr: float = 5e-4
    tokens_per_batch: int = 8192
    eval_minutes: float = 5.0
    margin: float = 0.01  # nats/char the candidate may be worse on the test split
    compliance_drop: float = 0.0  # how much the format/rhyme rates may drop
    heads: list[str] = field(default_factory=list)  # for the compliance check
    seed: int = 0


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
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()
                    if k not in ("extra_texts", "heads")},
    }  # fmt: skip


def write_json_atomic(path: Path, data: dict) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
        json.dump(data, f, ensure_ascii=False, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(f.name, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Retrain a candidate model and judge it.")
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--extra", type=Path, help="JSON list of rated poem texts")
    parser.add_argument("--heads", type=Path, help="JSON list of heads for the compliance check")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--eval-minutes", type=float, default=5.0)
    parser.add_argument("--tokens-per-batch", type=int, default=8192)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--margin", type=float, default=0.01)
    parser.add_argument("--extra-share", type=float, default=0.05)
    parser.add_argument("--compliance-drop", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # leave a core to the bot
    opts = RetrainOptions(
        base=args.base, corpus=args.corpus, out=args.out,
        extra_texts=json.loads(args.extra.read_text("utf-8")) if args.extra else [],
        heads=json.loads(args.heads.read_text("utf-8")) if args.heads else [],
        max_minutes=args.minutes, max_steps=args.max_steps, eval_minutes=args.eval_minutes,
        tokens_per_batch=args.tokens_per_batch, lr=args.lr, margin=args.margin,
        extra_share=args.extra_share, seed=args.seed, compliance_drop=args.compliance_drop,
    )  # fmt: skip
    report = retrain(opts)
    write_json_atomic(args.report, report)
    log.info("decision: %s (%s)", "promote" if report["promote"] else "reject", report["reason"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
