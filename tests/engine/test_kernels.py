"""engine.lockstep.kernels' compiled loops against the torch operations they stand for (their use in
the search is tested by test_lockstep: together and alone, the same poems)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.lockstep import kernels

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("k", [1, 16])
def test_masked_top_k_is_where_then_topk(k):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 2000, generator=g)
    mask = torch.rand(300, 2000, generator=g) < 0.3
    mask[5] = False  # no allowed column: all -inf
    mask[6] = False
    mask[6, [7, 1999]] = True  # fewer than k
    x[7, :] = 1.0  # every value equal: the first allowed columns, in order
    values, index = kernels.masked_top_k(x, mask, k)
    expected = torch.where(mask, x, float("-inf")).topk(k, 1)
    assert torch.equal(values, expected.values)
    finite = torch.isfinite(values)
    assert torch.equal(x.gather(1, index)[finite], values[finite])
    assert mask.gather(1, index)[finite].all()
    assert index[7].tolist() == mask[7].nonzero().squeeze(1)[:k].tolist()
    assert not torch.isfinite(values[5]).any()
    if k == 16:
        assert sorted(index[6, :2].tolist()) == [7, 1999]


def test_masked_top_k_reads_column_slices_in_place():
    """The search passes the shortlist's columns of wider tensors, not copies."""
    x = torch.randn(40, 3000)
    mask = torch.rand(40, 3000) < 0.5
    values, index = kernels.masked_top_k(x[:, :2000], mask[:, :2000], 16)
    expected = torch.where(mask[:, :2000], x[:, :2000], float("-inf")).topk(16, 1)
    assert torch.equal(values, expected.values)
    assert int(index.max()) < 2000


def test_without_a_writable_cache_directory_the_kernels_compile_anyway(tmp_path):
    """A read-only install with no home (the systemd unit's sandbox, without its
    NUMBA_CACHE_DIR): numba finds nowhere to cache, and the import still works."""
    code = (
        "import numba.core.caching as caching\n"
        "caching.CacheImpl._locator_classes = []  # no directory numba could write\n"
        "import torch\n"
        "from engine.lockstep import kernels\n"
        "assert type(kernels._select._cache).__name__ == 'NullCache'\n"
        "values, index = kernels.masked_top_k(torch.tensor([[1.0, 3.0, 2.0]]),"
        " torch.tensor([[True, False, True]]), 1)\n"
        "print(values.tolist(), index.tolist())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NUMBA_CACHE_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[[2.0]] [[2]]"
