"""`acrostic eval`: cross-entropy on the test split, prosody compliance, novelty, diversity and
latency per decoding mode, side by side with the same prosody metrics on real poems."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.checks import shared_rhyme
from engine.forms import STARTS, line_pattern, rhyme_lines, strict_positions
from engine.poet import Poet
from engine.prosody import Prosody
from train.corpus import read_split, read_themed
from train.dataset import PoemBuckets
from train.formulas import formula_metrics, theme_information

# name → Poet.acrostic options; "default" (the default search) is the headline configuration.
MODES: dict[str, dict] = {
    "default": {"mode": "diverse"},
    "beam8": {"mode": "beam", "beam_size": 8},
    "beam8_loose": {"mode": "beam", "beam_size": 8, "tones": "loose"},
    "beam8_strict": {"mode": "beam", "beam_size": 8, "tones": "strict"},
    "sample": {"mode": "sample", "temperature": 0.8, "top_p": 0.9},
    "beam8_unconstrained": {"mode": "beam", "beam_size": 8, "rhyme": False, "novelty": False},
}


def read_heads(path: Path) -> list[str]:
    """One head per line; blank lines and '#' comments are skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]


def _punctuated(lines: list[str]) -> list[str]:
    return [line + ("，" if i % 2 == 0 else "。") for i, line in enumerate(lines)]


def poem_lines(text: str) -> list[str]:
    return [line for line in text.replace("。", "，").split("，") if line]


@dataclass
class Generated:
    head: str
    lines: list[str]
    chars_per_line: int
    score: float
    latency_ms: float
    checks: dict


def prosody_metrics(prosody: Prosody, poems: list[tuple[list[str], int]]) -> dict:
    """Rhyme rate, even-line-平 rate, 二四六 agreement, repeats and distinct-2 over poems.

    rhyme_rate counts rhymes by attested readings (Prosody.load()); rhyme_rate_any_reading by
    every reading in the table, as before the attested readings, for comparison."""
    any_reading = Prosody.load(attested=False)
    rhymed = rhymed_any = applicable = even_ping = even_lines = tone_fit = tone_total = repeats = 0
    bigrams: list[str] = []
    for lines, cpl in poems:
        evens = [lines[i][-1] for i in rhyme_lines(len(lines))]
        if evens:
            applicable += 1
            rhymed += shared_rhyme(prosody, lines) is not None
            rhymed_any += shared_rhyme(any_reading, lines) is not None
        even_ping += sum(prosody.is_ping(ch) for ch in evens)
        even_lines += len(evens)
        fit, total = _two_four_six(prosody, lines, cpl)
        tone_fit, tone_total = tone_fit + fit, tone_total + total
        chars = "".join(lines)
        repeats += len(chars) - len(set(chars))
        bigrams += [line[i : i + 2] for line in lines for i in range(len(line) - 1)]
    return {
        "poems": len(poems),
        "rhyme_rate": _rate(rhymed, applicable),
        "rhyme_rate_any_reading": _rate(rhymed_any, applicable),
        "even_ping_rate": _rate(even_ping, even_lines),
        "tone_agreement": _rate(tone_fit, tone_total),
        "repeated_chars_per_poem": round(repeats / max(len(poems), 1), 3),
        "distinct_2": _rate(len(set(bigrams)), len(bigrams)),
    }


def _two_four_six(prosody: Prosody, lines: list[str], cpl: int) -> tuple[int, int]:
    """Positions 2/4/6 whose tone fits the better of the two patterns, and how many there are."""
    positions = strict_positions(cpl)
    best = 0
    for start in STARTS:
        fit = sum(
            line_pattern(start, i, cpl)[p] in prosody.tones(line[p])
            for i, line in enumerate(lines)
            for p in positions
        )
        best = max(best, fit)
    return best, len(lines) * len(positions)


def _rate(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def generate(poet: Poet, heads: list[str], options: dict, chars_per_line: int) -> list[Generated]:
    out = []
    for i, head in enumerate(heads):
        kwargs = dict(options)
        if kwargs["mode"] != "sample":
            kwargs.pop("seed", None)
        if kwargs["mode"] == "sample":
            kwargs["seed"] = i
        started = time.perf_counter()
        poem = poet.acrostic(head, chars_per_line=chars_per_line, **kwargs)
        elapsed = (time.perf_counter() - started) * 1000
        out.append(Generated(head, poem.lines, chars_per_line, poem.score, elapsed, poem.checks))
    return out


def mode_metrics(prosody: Prosody, poems: list[Generated], corpus_lines: set[str]) -> dict:
    lines = [line for p in poems for line in p.lines]
    latencies = sorted(p.latency_ms for p in poems)
    return {
        "format_rate": _rate(
            sum(p.checks["acrostic"] and bool(p.checks["form"]) for p in poems), len(poems)
        ),
        **prosody_metrics(prosody, [(p.lines, p.chars_per_line) for p in poems]),
        "copied_line_rate": _rate(sum(line in corpus_lines for line in lines), len(lines)),
        "mean_score": round(statistics.fmean(p.score for p in poems), 4),
        "latency_ms": {
            "median": round(statistics.median(latencies), 2),
            "p95": round(
                latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))], 2
            ),
        },
        "latencies": [round(x, 3) for x in latencies],
    }


def evaluate_model(
    model_dir: Path | None, corpus: Path, heads: list[str], chars_per_line: int = 7
) -> dict:
    """The full report as a dict (see `acrostic eval`)."""
    from train.loop import evaluate

    poet = Poet.load(model_dir)
    prosody = poet.prosody
    themed_test = read_themed(corpus, "test")
    test = [text for _, text in themed_test]
    nats = evaluate(poet.model, PoemBuckets(themed_test, poet.vocab), torch.device("cpu"))
    corpus_lines = {line for poem in read_split(corpus, "train") for line in poem_lines(poem)}
    for head in heads[:3]:  # warm-up
        poet.acrostic(head, chars_per_line=chars_per_line)
    modes = {}
    for name, options in MODES.items():
        poems = generate(poet, heads, options, chars_per_line)
        modes[name] = {
            **mode_metrics(prosody, poems, corpus_lines),
            **formula_metrics([p.lines for p in poems]),
            "theme_information": theme_information(
                poet.model, poet.vocab, [(p.head, "".join(_punctuated(p.lines))) for p in poems]
            ),
        }
    human = [(poem_lines(p), len(poem_lines(p)[0])) for p in test]
    # as many real poems of the same form as there are heads: the shared 3-gram rate depends
    # on the size of the run
    same_form = [
        (t, p)
        for t, p in themed_test
        if len(poem_lines(p)) == 4 and len(poem_lines(p)[0]) == chars_per_line
    ][: len(heads)]
    head_mode = {k: v for k, v in modes["default"].items() if k != "latencies"}
    return {
        "model_version": poet.model_version,
        "chars_per_line": chars_per_line,
        "heads": len(heads),
        "test_nats_per_char": round(nats, 4),
        "test_perplexity": round(math.exp(nats), 2),
        **head_mode,
        "latency_ms": {name: m["latency_ms"] for name, m in modes.items()},
        "constraint_cost_nats_per_char": round(
            modes["beam8_unconstrained"]["mean_score"] - modes["beam8"]["mean_score"], 4
        ),
        "modes": modes,
        "human_reference": {
            **prosody_metrics(prosody, human),
            **formula_metrics([poem_lines(p) for _, p in same_form]),
            "theme_information": theme_information(
                poet.model, poet.vocab, [(t, p) for t, p in themed_test[:1000] if t]
            ),
        },
        "training": poet.loaded.meta.get("training", {}),
        "learning_curve": poet.loaded.meta.get("metrics", {}).get("curve", []),
        "threads": torch.get_num_threads(),
    }
