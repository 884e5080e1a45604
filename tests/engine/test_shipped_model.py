"""The model shipped in engine/shipped: present, small, good enough, and safe to load."""

import pytest

from engine import Poet
from engine.checkpoint import read_meta
from engine.poet import SHIPPED_MODEL

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def shipped():
    return Poet.load()


def test_shipped_model_is_complete_and_small():
    files = {p.name: p.stat().st_size for p in SHIPPED_MODEL.iterdir()}
    from engine.parts import PACKAGE_DATA, require_servable

    model = {"model.safetensors", "model.json", "corpus_lines.safetensors", "plan.json"}
    assert set(files) == model | set(PACKAGE_DATA)  # heads, rhymes, held-out hashes
    require_servable(SHIPPED_MODEL)
    assert sum(files.values()) <= 30 * 2**20


def test_shipped_model_meets_the_quality_bar():
    meta = read_meta(SHIPPED_MODEL)
    metrics = meta["metrics"]
    assert metrics["test_nats_per_char"] <= 5.0
    assert len(metrics["curve"]) >= 5  # the learning curve is kept
    assert meta["corpus_fingerprint"] and meta["created_at"]
    assert meta["config"]["num_layers"] == 2


@pytest.mark.parametrize("width", [5, 7])
def test_shipped_model_writes_the_readme_poem(shipped, width):
    poem = shipped.acrostic("算法进阶", chars_per_line=width)
    assert [line[0] for line in poem.lines] == list("算法进阶")
    assert all(len(line) == width for line in poem.lines)
    assert poem.checks["rhyme"] is not None and poem.params["novelty"] is True
    assert poem.model_version == read_meta(SHIPPED_MODEL)["version"]
