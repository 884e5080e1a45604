"""Bucketed poem batches: one token length and one theme length per bucket, so nothing is padded.

A planned poem feeds each line's keywords right before the line (engine.vocab.KW). Those are
context, never targets: a batch stores them as negative ids (-id - 1), which `model_inputs`
turns back and `poem_nll` leaves out of the loss."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator, Sequence

import torch

from engine.model import CharLSTM
from engine.vocab import FORM_IDS, Vocab

Item = str | tuple[str, str] | tuple[str, str, tuple[str, ...]]  # poem, (theme, poem[, plan])


def drops_theme(poem: str, rate: float, seed: int, what: str = "") -> bool:
    """Whether this poem trains without its theme (a stable draw, about `rate` of all poems);
    `what` makes independent draws for other things dropped (keywords, one line's keyword)."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"{seed}\0{what}{poem}".encode()).digest()
    return int.from_bytes(digest[:4], "big") < rate * 2**32


def encode_planned(
    vocab: Vocab, text: str, theme: str, plan: tuple[str, ...], dropout: float = 0.0, seed=0
) -> list[int]:
    """The training framing with each line's keyword fed right before it, as context (negated
    ids). Keyword dropout: about `dropout` of the poems train without any plan, and as many of
    the remaining lines without their keyword, so a plain call and a partial plan still work."""
    ids = vocab.encode_poem(text, theme)
    if not vocab.planned or not any(plan) or drops_theme(text, dropout, seed, "plan"):
        return ids
    start = ids.index(vocab.form_id(len(text.split("，", 1)[0].split("。", 1)[0]))) + 1
    out, line = ids[:start], 0
    for i, tok in enumerate(ids[start:]):
        at_line_start = i == 0 or ids[start + i - 1] in (vocab.comma, vocab.period)
        if at_line_start and tok != vocab.eos:
            word = plan[line] if line < len(plan) else ""
            if word and not drops_theme(f"{line}{text}", dropout, seed, "line"):
                out += [-t - 1 for t in vocab.keyword_ids([word])]
            line += 1
        out.append(tok)
    return out


def model_inputs(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, is_target): a stored batch with its context-only tokens turned back into ids."""
    return torch.where(batch < 0, -batch - 1, batch), batch >= 0


def poem_start(batch: torch.Tensor) -> int:
    """The position of the form token in every row of a (B, L) bucket batch: the loss is on the
    tokens after it, never on the theme prefix."""
    row = batch[0]
    return int(((row == FORM_IDS[0]) | (row == FORM_IDS[1])).nonzero()[0])


def poem_nll(model: CharLSTM, batch: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed NLL of a (B, L) batch's poem tokens (after the form token; the theme prefix is
    context, never a target), and how many tokens that is."""
    start = poem_start(batch)
    ids, is_target = model_inputs(batch)
    h, _ = model(ids[:, :-1])  # (B, L-1, H)
    targets, keep = ids[:, start + 1 :], is_target[:, start + 1 :]
    if bool(keep.all()):
        return model.nll(h[:, start:].float(), targets), targets.numel()
    kept = h[:, start:][keep]  # (N, H): the poem tokens only
    return model.nll(kept.float().unsqueeze(0), targets[keep].unsqueeze(0)), int(keep.sum())


class PoemBuckets:
    """Poems encoded with the training framing, stacked per (theme length, token length)."""

    def __init__(
        self,
        items: Sequence[Item],
        vocab: Vocab,
        theme_dropout: float = 0.0,
        seed: int = 0,
        keyword_dropout: float = 0.0,
    ):
        groups: dict[tuple[int, int], list[list[int]]] = defaultdict(list)
        for item in items:
            theme, text, plan = ("", item, ()) if isinstance(item, str) else (*item, ())[:3]
            if drops_theme(text, theme_dropout, seed):
                theme = ""
            ids = encode_planned(vocab, text, theme, plan, keyword_dropout, seed)
            groups[(len(ids), _start(ids))].append(ids)
        self.buckets = {
            key: torch.tensor(rows, dtype=torch.long) for key, rows in sorted(groups.items())
        }

    @property
    def poems(self) -> int:
        return sum(len(b) for b in self.buckets.values())

    @property
    def targets(self) -> int:
        """Predicted tokens per pass: every poem token after the form token."""
        return sum(int((b[:, start + 1 :] >= 0).sum()) for (_, start), b in self.buckets.items())

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
