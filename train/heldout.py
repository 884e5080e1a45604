"""Heads that clichés are never measured on: the public heads and the held-out ones.

The held-out heads live in docs/eval/, which an installed package (the container image) lacks,
so the engine ships their SHA-256 hashes (engine/shipped/heldout.sha256) and this module checks
against those. Regenerate the file after editing a held-out list: `python -m train.heldout`.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from pathlib import Path

from engine.poet import SHIPPED_MODEL

HASHES = SHIPPED_MODEL / "heldout.sha256"
PUBLIC = SHIPPED_MODEL / "heads.txt"
DOCS = SHIPPED_MODEL.parents[1] / "docs" / "eval"
SOURCES = ("heads-heldout.txt", "heads-names-occasions.txt")  # a request's first word is its head


def digest(head: str) -> str:
    return hashlib.sha256(head.encode("utf-8")).hexdigest()


def _entries(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [s.split()[0] for s in lines if s.strip() and not s.lstrip().startswith("#")]


@functools.cache
def _excluded() -> tuple[frozenset[str], frozenset[str]]:
    """(public heads, held-out hashes). A missing hash file is an error, never a silent pass."""
    return frozenset(_entries(PUBLIC)), frozenset(_entries(HASHES))


def is_excluded(head: str) -> bool:
    public, hashes = _excluded()
    return head in public or digest(head) in hashes


def held_out_digests(docs: Path = DOCS) -> list[str]:
    """The sorted hashes of every held-out head listed under docs/eval/."""
    heads = {h for name in SOURCES if (docs / name).exists() for h in _entries(docs / name)}
    return sorted(digest(h) for h in heads)


def write_hashes(docs: Path = DOCS, out: Path = HASHES) -> int:
    digests = held_out_digests(docs)
    header = (
        "# sha256 of each held-out head (docs/eval/heads-heldout.txt, heads-names-occasions.txt):\n"
        "# clichés are never measured on them, also where docs/ is not installed.\n"
        "# Regenerate with `python -m train.heldout`.\n"
    )
    out.write_text(header + "".join(d + "\n" for d in digests), encoding="utf-8")
    return len(digests)


if __name__ == "__main__":
    print(f"{write_hashes()} held-out heads hashed into {HASHES}")
    sys.exit(0)
