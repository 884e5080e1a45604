"""Rerank finished candidates by what they owe the theme: log p(poem | theme) − λ·log p(poem).

A line that any theme would produce (不知何处是) is likely with or without the theme, so the
mutual-information term takes it down; a line that follows from the theme gains."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import torch

from engine.decode import Decoded, Predict
from engine.model import CharLSTM
from engine.stepper import Stepper


@dataclass(frozen=True)
class Ranked:
    decoded: Decoded
    score: float  # the rerank objective, per token
    themed: float  # mean log p(token | theme, prefix)
    plain: float  # mean log p(token | no theme, prefix)


@torch.inference_mode()
def sequence_log_probs(model: CharLSTM, prefix: list[int], seqs: torch.Tensor) -> torch.Tensor:
    """(N,) summed log-probabilities of each row of seqs (N, T) after `prefix` (which ends with
    the form token), in one batched pass of the model (float: training and tests)."""
    N, T = seqs.shape
    lead = torch.tensor(prefix, dtype=torch.long).expand(N, -1)
    tokens = torch.cat([lead, seqs[:, :-1]], 1)  # (N, P + T - 1)
    h, _ = model(tokens)
    h = h[:, len(prefix) - 1 :].reshape(N * T, -1)  # outputs that predict the seqs (N*T, H)
    targets = seqs.reshape(-1)
    if model.adaptive:
        lp = model.out(h, targets).output
    else:
        lp = torch.log_softmax(model.out(h), -1).gather(1, targets.unsqueeze(1)).squeeze(1)
    return lp.view(N, T).sum(1)


def plain_pass(
    stepper: Stepper, prefix: list[int], seqs: torch.Tensor
) -> Generator[Predict, tuple, torch.Tensor]:
    """sequence_log_probs as a search (engine.decode.Search): it yields its model steps and
    returns (N,) summed log-probabilities, so any driver of searches can run it.

    The rows of seqs share most of their characters (the heads, and what beam groups agree
    on), so each step feeds each distinct prefix once (trie_levels: about 40% of the rows).
    `stepper` gives only the initial state. engine.lockstep.finish runs many at once."""
    state = stepper.initial(1)
    for token in prefix[:-1]:
        _, state = yield Predict(torch.tensor([token]), state, scores=False)
    total = torch.zeros(seqs.size(0))
    for level in trie_levels(seqs, prefix[-1]):
        fed, parent, target, member = map(torch.tensor, level)
        state = state[0].index_select(1, parent), state[1].index_select(1, parent)
        lp, state = yield Predict(fed, state, forced=target)
        total = total + lp[member]
    return total


def trie_levels(seqs: torch.Tensor, form: int) -> list[tuple[list[int], ...]]:
    """Per position j of seqs (N, T), the distinct prefixes seqs[:, :j+1] (nodes, first seen
    first) as one model step feeds them: (the token each node feeds (its parent's last, or
    `form` at j = 0), its parent at j − 1 (the one start row at j = 0), the token its output
    scores (its own last), and each row of seqs' node)."""
    levels = []
    above, last = [0] * seqs.size(0), [form]  # each row's node one level up; nodes' tokens
    for column in seqs.T.tolist():
        index: dict[tuple[int, int], int] = {}
        parent, tokens, member = [], [], []
        for up, token in zip(above, column, strict=True):
            node = index.setdefault((up, token), len(parent))
            if node == len(parent):
                parent.append(up)
                tokens.append(token)
            member.append(node)
        fed = [last[p] for p in parent]
        levels.append((fed, parent, tokens, member))
        above, last = member, tokens
    return levels


def finalists(candidates: list[Decoded], top: int | None) -> list[Decoded]:
    """The candidates that get the rerank's pass: the `top` best by log p(poem | theme) +
    penalties (all of them when `top` is None)."""
    if top is not None and len(candidates) > top:
        return sorted(candidates, key=lambda c: -(c.score + c.penalty / len(c.ids)))[:top]
    return candidates


def rerank(
    candidates: list[Decoded], plain: torch.Tensor | None, mi_weight: float
) -> list[Ranked]:
    """Candidates best first by (log p(poem | theme) − λ·log p(poem) + penalties) per token.

    log p(poem | theme) is the search's own (each candidate's `score`); log p(poem) is
    `plain`, each candidate's summed log-probability after the prefix without the theme
    (plain_pass); None: the model has no themes, so both are the same."""
    themed = torch.tensor([c.score for c in candidates])
    plain_scores = themed if plain is None else plain / len(candidates[0].ids)
    ranked = [
        Ranked(c, float(t - mi_weight * p) + c.penalty / len(c.ids), float(t), float(p))
        for c, t, p in zip(candidates, themed, plain_scores, strict=True)
    ]
    return sorted(ranked, key=lambda r: -r.score)
