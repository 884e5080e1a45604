"""The plan data build writes the same plan.json every time (ties broken by word, not by the
order a hash set happens to have)."""

from __future__ import annotations

import pytest

from train.plan_data import build_plan_data, dumps

pytestmark = pytest.mark.unit


def test_the_build_is_deterministic(corpus_dir):
    first = build_plan_data(corpus_dir)
    assert first["categories"] and first["triggers"]
    assert dumps(build_plan_data(corpus_dir)) == dumps(first)
