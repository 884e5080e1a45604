"""engine.top: the n largest values, equal ones in index order, whatever topk does."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.top import top

pytestmark = pytest.mark.unit

NEG_INF = float("-inf")


def reference(values: list[float], n: int) -> list[int]:
    """Indices of the n largest, best first, equal values lowest index first."""
    return sorted(range(len(values)), key=lambda i: (-values[i], i))[:n]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([NEG_INF, -3.0, -2.5, -2.0, -1.0, 0.0]), min_size=1, max_size=60),
    st.integers(1, 70),
)
def test_the_n_largest_with_ties_in_index_order(values, n):
    flat = torch.tensor(values)
    got_values, got_index = top(flat, n)
    want = reference(values, n)
    assert got_values.tolist() == [values[i] for i in want]
    finite = [i for i in want if values[i] != NEG_INF]
    assert got_index.tolist()[: len(finite)] == finite  # the -inf ones: any order


def test_a_tie_across_the_cut_keeps_the_lowest_indices():
    flat = torch.full((5000,), -5.0)
    flat[[4000, 17, 2500, 9]] = -1.0
    flat[4999] = 0.0
    values, index = top(flat, 3)
    assert index.tolist() == [4999, 9, 17]
    assert values.tolist() == [0.0, -1.0, -1.0]


def test_without_ties_it_is_topk():
    flat = torch.randn(10_000)
    values, index = top(flat, 24)
    expected = flat.topk(24)
    assert torch.equal(values, expected.values) and torch.equal(index, expected.indices)
