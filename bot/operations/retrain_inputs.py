"""What the nightly retrain learns from (rated poems that one person cannot steer) and the
public heads its gate writes poems for."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from bot.store.models import PoemRequest, Rating, RequestStatus
from engine.poet import SHIPPED_MODEL
from engine.text import PERIOD, is_han, to_simplified
from train.evaluate import read_heads

HEADS_FILE = SHIPPED_MODEL / "heads.txt"  # the public heads, package data of the engine
MAX_LINES = 8  # longer poems are not training text (the corpus is quatrains and regulated verse)


def rated_poems(session, min_mean: float, min_raters: int) -> list[tuple[int, str]]:
    """(request id, simplified text) of poems rated ≥ min_mean by ≥ min_raters distinct users
    other than the poem's author (their own ★ never counts, inline poems alike), answered,
    藏头 or 藏中 (a 藏尾 poem bends its lines to end on the head), at most 8 lines, passing the
    acrostic and form checks, not yet learned from; duplicates dropped."""
    qualified = (
        select(Rating.request_id)
        .join(PoemRequest, PoemRequest.id == Rating.request_id)
        .where(
            Rating.user_id != PoemRequest.user_id,
            PoemRequest.status == RequestStatus.OK,
            PoemRequest.used_in_run_id.is_(None),
        )
        .group_by(Rating.request_id)
        .having(func.avg(Rating.stars) >= min_mean)
        .having(func.count(func.distinct(Rating.user_id)) >= min_raters)
    )
    rows = session.execute(
        select(PoemRequest.id, PoemRequest.poem, PoemRequest.checks, PoemRequest.options)
        .where(PoemRequest.id.in_(qualified))
        .order_by(PoemRequest.id)
    ).all()
    seen, out = set(), []
    for request_id, poem, checks, options in rows:
        text = to_simplified(poem or "")
        if not _training_text(text, checks or {}, options or {}) or text in seen:
            continue
        seen.add(text)
        out.append((request_id, text))
    return out


def _training_text(text: str, checks: dict, options: dict) -> bool:
    well_formed = checks.get("acrostic") and checks.get("form") and text.endswith(PERIOD)
    lines = text.count("，") + text.count(PERIOD)
    return bool(
        well_formed
        and options.get("position", "head") != "tail"
        and lines <= MAX_LINES
        and all(is_han(ch) or ch in "，。" for ch in text)
    )


def eval_heads(count: int, path: Path = HEADS_FILE) -> list[str]:
    """The first `count` public heads. A missing or empty file is an error, never a silent
    fallback to a handful of built-in heads: the gate would judge far fewer poems than it says."""
    heads = read_heads(path)
    if not heads:
        raise ValueError(f"no heads in {path}")
    return heads[:count]
