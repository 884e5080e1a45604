"""The n largest values of a flat tensor in one fixed order: best first, equal values lowest
index first. torch.topk's order among equal values is its implementation's (it differs with
the tensor's length and layout), so a search that must choose the same way over the whole
vocabulary (engine.decode) and over a shortlist of candidates (engine.lockstep) breaks ties
by index in both."""

from __future__ import annotations

import torch


def top(flat: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, index) of the n largest finite-or-not values of `flat` (1-D), best first, equal
    finite values in index order (equal -inf ones in any order: a search drops them)."""
    m = min(n + 1, flat.numel())
    values, index = flat.topk(m)
    tied = (values[1:] == values[:-1]) & torch.isfinite(values[1:])
    if not bool(tied.any()):
        return values[:n], index[:n]
    if m > n and bool(tied[n - 1]):  # a tie across the cut: every index holding that value
        index = (flat >= values[n - 1]).nonzero().squeeze(1)
    else:
        index = index[:n].sort().values
    order = flat[index].sort(descending=True, stable=True).indices[:n]
    index = index[order]
    return flat[index], index
