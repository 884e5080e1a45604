"""Bucketed poem batches: one token length and one theme length per bucket, so nothing is padded."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator, Sequence

import torch

from engine.model import CharLSTM
from engine.vocab import FORM_IDS, Vocab

Item = str | tuple[str, str]  # a poem, or (theme, poem)


def drops_theme(poem: str, rate: float, seed: int) -> bool:
    """Whether this poem trains without its theme (a stable draw, about `rate` of all poems)."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"{seed}\0{poem}".encode()).digest()
    return int.from_bytes(digest[:4], "big") < rate * 2**32


def poem_start(batch: torch.Tensor) -> int:
    """The position of the form token in every row of a (B, L) bucket batch: the loss is on the
    tokens after it, never on the theme prefix."""
    row = batch[0]
    return int(((row == FORM_IDS[0]) | (row == FORM_IDS[1])).nonzero()[0])


def poem_nll(model: CharLSTM, batch: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed NLL of a (B, L) batch's poem tokens (after the form token; the theme prefix is
    context, never a target), and how many tokens that is."""
    start = poem_start(batch)
    h, _ = model(batch[:, :-1])  # (B, L-1, H)
    targets = batch[:, start + 1 :]
    return model.nll(h[:, start:].float(), targets), targets.numel()


class PoemBuckets:
    """Poems encoded with the training framing, stacked per (theme length, token length)."""

    def __init__(
        self, items: Sequence[Item], vocab: Vocab, theme_dropout: float = 0.0, seed: int = 0
    ):
        groups: dict[tuple[int, int], list[list[int]]] = defaultdict(list)
        for item in items:
            theme, text = ("", item) if isinstance(item, str) else item
            if drops_theme(text, theme_dropout, seed):
                theme = ""
            ids = vocab.encode_poem(text, theme)
            groups[(len(ids), _start(ids))].append(ids)
        self.buckets = {
            key: torch.tensor(rows, dtype=torch.long) for key, rows in sorted(groups.items())
        }

    @property
    def poems(self) -> int:
        return sum(len(b) for b in self.buckets.values())

    @property
    def targets(self) -> int:
        """Predicted tokens per pass: every token after the form token."""
        return sum(len(b) * (n - start - 1) for (n, start), b in self.buckets.items())

    def batches(
        self, tokens_per_batch: int, generator: torch.Generator | None = None
    ) -> list[torch.Tensor]:
        """All batches of one epoch, shuffled within and across buckets when a generator is given."""
        out: list[torch.Tensor] = []
        for (length, _), rows in self.buckets.items():
            per = max(1, tokens_per_batch // length)
            order = (
                torch.randperm(len(rows), generator=generator)
                if generator
                else torch.arange(len(rows))
            )
            out.extend(rows[order[i : i + per]] for i in range(0, len(rows), per))
        if generator is not None:
            out = [out[i] for i in torch.randperm(len(out), generator=generator).tolist()]
        return out


def _start(ids: list[int]) -> int:
    return next(i for i, t in enumerate(ids) if t in FORM_IDS)


def epoch_batches(
    buckets: PoemBuckets, tokens_per_batch: int, seed: int, epoch: int
) -> Iterator[torch.Tensor]:
    """The deterministic batch order of one epoch (same seed and epoch → same order)."""
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    yield from buckets.batches(tokens_per_batch, gen)
