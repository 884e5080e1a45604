"""Poem cards on request: drawn in a small pool of their own (never the threads every database
call shares), at most a few waiting, each card drawn once (an LRU cache; a repeated press costs
nothing), and a new card costs its user a token of the rate limits, as a poem does."""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from bot.base import messages
from bot.cards.render import render_card
from bot.chat.limits import RateLimited

POOL_THREADS = 2  # renders at once
MAX_WAITING = 8  # renders queued beyond those: more are refused at once (busy)
CACHE_CARDS = 256


class CardBusy(Exception):
    """Too many cards are being drawn: the press is answered with BUSY, nothing queued."""


class Cards:
    def __init__(self, limiter, font: str | None = None):
        self.limiter, self.font = limiter, font
        self.pool = ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="cangtou-card")
        self.slots = asyncio.Semaphore(POOL_THREADS + MAX_WAITING)
        self.cache: OrderedDict[tuple[int, str], bytes] = OrderedDict()
        self.renders = 0  # cards drawn (the cache's misses), for tests and metrics

    async def png(self, view, actor=None) -> bytes:
        """The card of a stored poem (a PoemView with its id). With an `actor`, a card not yet
        drawn takes a token of their limits (RateLimited). CardBusy when the pool is full;
        CardError, FontNotFound when it cannot be drawn here."""
        key = (view.poem_id, view.model_version)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        if actor is not None:
            self.limiter.check(actor.user_key, actor.chat_key)
        if self.slots.locked():
            raise CardBusy(messages.BUSY)
        async with self.slots:
            draw = functools.partial(render_card, view, font=self.font)
            png = await asyncio.get_running_loop().run_in_executor(self.pool, draw)
        self.renders += 1
        self.cache[key] = png
        while len(self.cache) > CACHE_CARDS:
            self.cache.popitem(last=False)
        return png

    def forget(self, poem_ids: set[int]) -> None:
        """Drop a forgotten user's cards."""
        for key in [k for k in self.cache if k[0] in poem_ids]:
            del self.cache[key]

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["CardBusy", "Cards", "RateLimited"]
