"""Rerank finished candidates by what they owe the theme: log p(poem | theme) − λ·log p(poem).

A line that any theme would produce (不知何处是) is likely with or without the theme, so the
mutual-information term takes it down; a line that follows from the theme gains."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import torch

from engine.decode import Decoded
from engine.model import CharLSTM
from engine.stepper import Stepper


@dataclass(frozen=True)
class Ranked:
    decoded: Decoded
    score: float  # the rerank objective, per token
    themed: float  # mean log p(token | theme, prefix)
    plain: float  # mean log p(token | no theme, prefix)


@torch.inference_mode()
def sequence_log_probs(
    model: CharLSTM, prefix: list[int], seqs: torch.Tensor, output: Stepper | None = None
) -> torch.Tensor:
    """(N,) summed log-probabilities of each row of seqs (N, T) after `prefix` (which ends with
    the form token), in one batched pass of the model's LSTM. The output layer is the model's
    own, or `output`'s (a Stepper: each target's own softmax cluster in its precision)."""
    N, T = seqs.shape
    lead = torch.tensor(prefix, dtype=torch.long).expand(N, -1)
    tokens = torch.cat([lead, seqs[:, :-1]], 1)  # (N, P + T - 1)
    h, _ = model(tokens)
    h = h[:, len(prefix) - 1 :].reshape(N * T, -1)  # outputs that predict the seqs (N*T, H)
    targets = seqs.reshape(-1)
    if output is not None:
        lp = output.token_log_probs(h, targets)
    elif model.adaptive:
        lp = model.out(h, targets).output
    else:
        lp = torch.log_softmax(model.out(h), -1).gather(1, targets.unsqueeze(1)).squeeze(1)
    return lp.view(N, T).sum(1)


def int8_scorer(model: CharLSTM) -> CharLSTM:
    """A copy of the model whose nn.LSTM runs on int8 weights (fbgemm dynamic quantisation).

    The rerank pass is bound by reading the recurrent weights at every step: int8 halves its
    time, and the search itself already steps on int8 weights. Its output layer stays float:
    give sequence_log_probs an int8 Stepper's instead (3.5 against 1.2 ms for 8 poems)."""
    with warnings.catch_warnings():  # torch.ao quantisation is deprecated; torch is pinned
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(model), {torch.nn.LSTM}, dtype=torch.qint8
        ).eval()


def finalists(candidates: list[Decoded], top: int | None) -> list[Decoded]:
    """The candidates that get the rerank's pass: the `top` best by log p(poem | theme) +
    penalties (all of them when `top` is None)."""
    if top is not None and len(candidates) > top:
        return sorted(candidates, key=lambda c: -(c.score + c.penalty / len(c.ids)))[:top]
    return candidates


def rerank(
    model: CharLSTM,
    candidates: list[Decoded],
    plain_prefix: list[int] | None,
    mi_weight: float,
    top: int | None = None,
    output: Stepper | None = None,
) -> list[Ranked]:
    """Candidates best first by (log p(poem | theme) − λ·log p(poem) + penalties) per token.

    log p(poem | theme) is the search's own (each candidate's `score`); log p(poem) takes one
    batched pass of `model` (the Poet's int8 scorer) after `plain_prefix` (None: the model
    has no themes, so both are the same), with `output` as sequence_log_probs takes it.
    `top` keeps only that many candidates (finalists) for the pass, which costs about a
    quarter of a batched poem."""
    candidates = finalists(candidates, top)
    themed = torch.tensor([c.score for c in candidates])
    if plain_prefix is None or mi_weight == 0:
        plain_scores = themed
    else:
        seqs = torch.tensor([c.ids for c in candidates], dtype=torch.long)
        sums = sequence_log_probs(model, plain_prefix, seqs, output)
        plain_scores = sums / seqs.size(1)
    ranked = [
        Ranked(c, float(t - mi_weight * p) + c.penalty / len(c.ids), float(t), float(p))
        for c, t, p in zip(candidates, themed, plain_scores, strict=True)
    ]
    return sorted(ranked, key=lambda r: -r.score)
