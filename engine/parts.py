"""What a complete, servable model directory holds: the one list that promotion checks.

Loading stays lenient (eval, training and tests load partial directories); only a directory
about to be served must have every part. A later part (the plan data, say) is one more entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.checkpoint import LINES, META, PLAN, WEIGHTS, ModelDirError, read_meta
from engine.vocab import SEP


@dataclass(frozen=True)
class Part:
    name: str  # what a refusal names
    holds: str  # where it lives and what uses it
    present: Callable[[Path, dict], bool]


def _cliches(path: Path, meta: dict) -> bool:
    table = meta.get("cliches")
    return isinstance(table, dict) and isinstance(table.get("ngrams"), dict)


PARTS: tuple[Part, ...] = (
    Part("weights", f"{WEIGHTS}: the float16 weights", lambda p, m: (p / WEIGHTS).is_file()),
    Part(
        "vocabulary and config",
        f"{META}: config, vocabulary (append-only ids), corpus fingerprint, metrics, parent",
        lambda p, m: "vocab" in m and "config" in m,
    ),
    Part(
        "line index",
        f"{LINES} (+ lines_sha256 in {META}): corpus line hashes, the novelty rule",
        lambda p, m: bool(m.get("lines_sha256")) and (p / LINES).is_file(),
    ),
    Part(
        "theme framing",
        f"the {SEP} token in the vocabulary: themes and the theme rerank of the default search",
        lambda p, m: SEP in m.get("vocab", ()),
    ),
    Part(
        "cliches",
        f"cliches in {META}: the default search's cliché penalties (measured, or carried over "
        "from the parent and recorded so)",
        _cliches,
    ),
    Part(
        "plan data",
        f"{PLAN} (+ plan_sha256 in {META}): the planner's lexicon and corpus statistics "
        "(`acrostic plan build`; a retrain carries the parent's over)",
        lambda p, m: bool(m.get("plan_sha256")) and (p / PLAN).is_file(),
    ),
)

# Beside the shipped model but not part of any version: package data every version shares.
PACKAGE_DATA = {
    "rhymes.json": "attested 平水韵 readings (engine.prosody), derived from the corpus",
    "heads.txt": "the public heads: eval, the retrain gate, benchmarks",
    "heldout.sha256": "hashes of the held-out heads, which clichés are never measured on",
}


def missing_parts(path: Path) -> list[str]:
    """The names of the parts `path` lacks (all of them for an unreadable model.json)."""
    path = Path(path)
    try:
        meta = read_meta(path)
    except ModelDirError:
        return [part.name for part in PARTS]
    return [part.name for part in PARTS if not part.present(path, meta)]


def require_servable(path: Path) -> None:
    """Raise ModelDirError (one line) unless `path` holds every part of PARTS."""
    missing = missing_parts(path)
    if missing:
        raise ModelDirError(f"{Path(path).name} cannot be served: it has no {', '.join(missing)}")
