"""The retrain gate: what readers see, measured the same way on the current model and on the
candidate in one run, and the rule that decides between them.

The poems are the default search's, 七言, for the public heads (all 111: the shared 3-gram rate
depends on how many poems a run writes, and the tolerances are set for that count).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.checks import shared_rhyme
from engine.parts import missing_parts
from engine.poem import punctuate
from engine.poet import Poet
from engine.prosody import Prosody
from train.formulas import formula_metrics, theme_information


@dataclass(frozen=True)
class Check:
    metric: str
    worse: str  # "higher" or "lower": the direction readers lose in
    knob: str  # the RetrainKnobs field holding the tolerance


# A candidate worse than the current model beyond its tolerance on any of these is rejected;
# the reasons for each tolerance are beside the knobs in train/retrain_options.py.
CHECKS = (
    Check("format_rate", "lower", "compliance_drop"),
    Check("rhyme_rate", "lower", "compliance_drop"),
    Check("shared_trigram_rate", "higher", "shared_trigram_rise"),
    Check("repeated_chars_per_poem", "higher", "repeat_rise"),
    Check("theme_information", "lower", "theme_information_drop"),
    Check("test_nats_per_char", "higher", "margin"),
)
GAIN = "rated_nats_per_char"  # what a candidate must improve by min_gain


def nats_per_char(model_dir: Path, items: list) -> float | None:
    """Mean negative log-likelihood per predicted character of `items` (texts or (theme, text)
    pairs) in the training framing; None for no items."""
    from engine.checkpoint import load_model_dir
    from train.dataset import PoemBuckets
    from train.loop import evaluate

    if not items:
        return None
    loaded = load_model_dir(model_dir)
    data = PoemBuckets(items, loaded.vocab)
    return round(evaluate(loaded.model.float(), data, torch.device("cpu")), 4)


def reader_metrics(model_dir: Path, heads: list[str], test_items: list, rated: list[str]) -> dict:
    """The default search's poems for `heads` and what readers see in them, the test split's
    cross-entropy, and the rated poems' own cross-entropy; the seconds a poem took too."""
    poet = Poet.load(model_dir)
    attested = Prosody.load()
    if heads:  # untimed: a process's first poem pays its lazy loading (10–18× a poem)
        poet.acrostic(heads[0], chars_per_line=7)
    started = time.perf_counter()
    poems = [poet.acrostic(head, chars_per_line=7) for head in heads]
    per_poem = (time.perf_counter() - started) / max(len(heads), 1)
    lines = [p.lines for p in poems]
    n = max(len(poems), 1)
    well_formed = sum(bool(p.checks["acrostic"] and p.checks["form"]) for p in poems)
    formulas = formula_metrics(lines)
    pairs = [(h, punctuate(p.lines)) for h, p in zip(heads, poems, strict=True)]
    return {
        "poems": len(poems),
        "format_rate": round(well_formed / n, 4),
        "rhyme_rate": round(sum(shared_rhyme(attested, ls) is not None for ls in lines) / n, 4),
        "shared_trigram_rate": formulas["shared_trigram_rate"],
        "repeated_chars_per_poem": formulas["repeated_chars_per_poem"],
        "most_shared_trigrams": formulas["most_shared_trigrams"],
        "theme_information": theme_information(poet.model, poet.vocab, pairs),
        "test_nats_per_char": nats_per_char(model_dir, test_items),
        GAIN: nats_per_char(model_dir, rated),
        "seconds_per_poem": round(per_poem, 4),
        "missing_parts": missing_parts(model_dir),
    }


def _worse_by(check: Check, base: dict, candidate: dict) -> float | None:
    """How far the candidate is worse than the base on one metric (≤ 0: not worse); None where
    either side has no value (a model without themes has no theme information)."""
    b, c = base.get(check.metric), candidate.get(check.metric)
    if b is None or c is None:
        return None
    if not math.isfinite(c):
        return math.inf
    return c - b if check.worse == "higher" else b - c


def decide(base: dict, candidate: dict, knobs) -> tuple[bool, str, str | None]:
    """(promote, reason, the metric that failed). A candidate must hold every part, be worse on
    no metric beyond its tolerance, and lower the rated poems' cross-entropy by min_gain."""
    if candidate.get("missing_parts"):
        part = candidate["missing_parts"][0]
        return False, f"{part}: the candidate has none (not servable)", part
    for check in CHECKS:
        worse = _worse_by(check, base, candidate)
        allowed = getattr(knobs, check.knob)
        if worse is not None and worse > allowed:
            reason = (
                f"{check.metric} {base[check.metric]} → {candidate[check.metric]} "
                f"(worse by {worse:.4f}, tolerance {allowed})"
            )
            return False, reason, check.metric
    b, c = base.get(GAIN), candidate.get(GAIN)
    if b is None or c is None or b - c < knobs.min_gain:
        gained = "nothing to learn" if b is None or c is None else f"{b - c:+.4f}"
        return False, f"{GAIN}: gained {gained} (needs {knobs.min_gain})", GAIN
    held = ", ".join(f"{ch.metric} {candidate.get(ch.metric)}" for ch in CHECKS)
    return True, f"{GAIN} {b} → {c}; held: {held}", None
