"""Training smoke tests on the fixture corpus: loss falls, saves reload, resume continues."""

import json

import pytest

from engine import Poet
from engine.checkpoint import read_meta
from train.loop import TrainOptions, train


def test_loss_falls_and_the_model_directory_is_complete(trained, tiny_model_dir):
    summary, out, _ = trained
    meta = read_meta(out)
    curve = meta["metrics"]["curve"]
    assert len(curve) >= 3
    assert curve[-1]["val_nats_per_char"] < curve[0]["val_nats_per_char"] - 0.3
    assert meta["metrics"]["val_nats_per_char"] == min(p["val_nats_per_char"] for p in curve)
    assert summary["test_nats_per_char"] == meta["metrics"]["test_nats_per_char"] > 0
    assert {
        "config",
        "vocab",
        "corpus_fingerprint",
        "created_at",
        "metrics",
        "weights_sha256",
    } <= set(meta)
    files = sorted(p.name for p in out.iterdir())
    assert files == ["corpus_lines.safetensors", "model.json", "model.safetensors"]
    assert not list(out.parent.glob(".*.tmp"))  # no scratch directories left behind


def test_the_saved_model_reproduces_the_same_poem(tiny_model_dir):
    a, b = Poet.load(tiny_model_dir), Poet.load(tiny_model_dir)
    for mode in ("beam", "sample"):
        pa = a.acrostic("春风秋雨", chars_per_line=5, mode=mode, seed=11)
        pb = b.acrostic("春风秋雨", chars_per_line=5, mode=mode, seed=11)
        assert pa.text == pb.text and pa.score == pb.score


def test_test_metric_equals_poet_nats_per_char_on_the_same_poems(trained, corpus_dir):
    _, out, _ = trained
    poet = Poet.load(out)
    texts = (corpus_dir / "test.txt").read_text().split()
    totals = [poet.nats_per_char(t) * (len(t) + 1) for t in texts]
    mean = sum(totals) / sum(len(t) + 1 for t in texts)
    assert mean == pytest.approx(read_meta(out)["metrics"]["test_nats_per_char"], abs=1e-3)


def _opts(corpus_dir, out, **kw):
    base = dict(
        corpus=corpus_dir,
        out=out,
        embed_dim=8,
        hidden_dim=16,
        dropout=0.0,
        cutoffs=(),
        tokens_per_batch=256,
        eval_minutes=1.0,
        min_count=1,
        progress=False,
        seed=3,
    )
    return TrainOptions(**{**base, **kw})


def test_resume_continues_from_the_saved_state(corpus_dir, tmp_path):
    straight = train(_opts(corpus_dir, tmp_path / "a", epochs=2))
    interrupted = train(_opts(corpus_dir, tmp_path / "b", epochs=2, max_steps=20))
    assert interrupted["curve"] == 1
    resumed = train(_opts(corpus_dir, tmp_path / "b", epochs=2, resume=True))
    state = json.loads((tmp_path / "b.state" / "state.json").read_text())["state"]
    assert state["epoch"] == 2
    assert resumed["test_nats_per_char"] == pytest.approx(straight["test_nats_per_char"], abs=2e-3)


def test_dry_run_saves_nothing(corpus_dir, tmp_path):
    summary = train(_opts(corpus_dir, tmp_path / "dry", dry_run=True))
    assert summary["dry_run"] is True and summary["steps"] == 2
    assert not (tmp_path / "dry").exists() and not (tmp_path / "dry.state").exists()
