"""Length-bucketed poem batches: every poem of one form has one length, so nothing is padded."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

import torch

from engine.vocab import Vocab


class PoemBuckets:
    """Poems encoded with the training framing, stacked per token length (B, L)."""

    def __init__(self, texts: Sequence[str], vocab: Vocab):
        groups: dict[int, list[list[int]]] = defaultdict(list)
        for text in texts:
            ids = vocab.encode_poem(text)
            groups[len(ids)].append(ids)
        self.buckets = {
            n: torch.tensor(rows, dtype=torch.long) for n, rows in sorted(groups.items())
        }

    @property
    def poems(self) -> int:
        return sum(len(b) for b in self.buckets.values())

    @property
    def targets(self) -> int:
        """Predicted tokens per pass: every token after the form token."""
        return sum(b.numel() - len(b) for b in self.buckets.values())

    def batches(
        self, tokens_per_batch: int, generator: torch.Generator | None = None
    ) -> list[torch.Tensor]:
        """All batches of one epoch, shuffled within and across buckets when a generator is given."""
        out: list[torch.Tensor] = []
        for length, rows in self.buckets.items():
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


def epoch_batches(
    buckets: PoemBuckets, tokens_per_batch: int, seed: int, epoch: int
) -> Iterator[torch.Tensor]:
    """The deterministic batch order of one epoch (same seed and epoch → same order)."""
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    yield from buckets.batches(tokens_per_batch, gen)
