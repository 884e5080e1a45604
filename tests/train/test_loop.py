"""Training smoke tests on the fixture corpus: loss falls, saves reload, resume continues."""

import json

import pytest

from engine import Poet
from engine.checkpoint import read_meta
from train.corpus import read_themed
from train.loop import TrainOptions, train

pytestmark = pytest.mark.unit


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
    assert files == ["corpus_lines.safetensors", "model.json", "model.safetensors", "plan.json"]
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
    pairs = read_themed(corpus_dir, "test")
    totals = [poet.nats_per_char(text, theme) * (len(text) + 1) for theme, text in pairs]
    mean = sum(totals) / sum(len(text) + 1 for _, text in pairs)
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


def test_eval_writes_every_file_with_every_metric(tiny_model_dir, corpus_dir, tmp_path):
    from train.evaluate import evaluate_model, read_heads
    from train.report import write_report

    heads_file = tmp_path / "heads.txt"
    heads_file.write_text("# comment\n春风\n秋雨夜来\n\n山水\n", encoding="utf-8")
    heads = read_heads(heads_file)
    assert heads == ["春风", "秋雨夜来", "山水"]
    report = evaluate_model(tiny_model_dir, corpus_dir, heads, chars_per_line=5)
    files = write_report(report, tmp_path / "report")
    assert sorted(p.name for p in files) == [
        "compliance.png",
        "latency.png",
        "learning_curve.png",
        "report.json",
        "report.md",
    ]
    for key in (
        "test_nats_per_char",
        "format_rate",
        "rhyme_rate",
        "even_ping_rate",
        "tone_agreement",
        "copied_line_rate",
        "distinct_2",
        "latency_ms",
        "human_reference",
        "shared_trigram_rate",
        "same_rhyme_char_poems",
        "theme_information",
        "rhyme_rate_any_reading",
    ):
        assert report[key] is not None, key
        assert key == "latency_ms" or report["human_reference"].get(key) is not None or key in (
            "test_nats_per_char", "format_rate", "copied_line_rate", "human_reference"
        ), key  # fmt: skip
    assert report["format_rate"] == 1.0
    assert set(report["latency_ms"]) == {
        "default",
        "beam8",
        "beam8_loose",
        "beam8_strict",
        "sample",
        "beam8_unconstrained",
    }
    assert all(v["median"] > 0 and v["p95"] >= v["median"] for v in report["latency_ms"].values())
    assert report["human_reference"]["poems"] == len((corpus_dir / "test.txt").read_text().split())
    assert all(
        (tmp_path / "report" / name).stat().st_size > 1000
        for name in ("latency.png", "compliance.png")
    )
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["test_nats_per_char"] == report["test_nats_per_char"]
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| rhyme rate (平水韵, attested readings) |" in markdown
    assert "| shared 3-gram rate (in ≥ 3 poems) |" in markdown


def test_bf16_autocast_training_runs_on_cpu(corpus_dir, tmp_path):
    for cutoffs in [(), (10,)]:  # full and adaptive softmax
        out = tmp_path / f"amp{len(cutoffs)}"
        summary = train(_opts(corpus_dir, out, epochs=1, amp="bf16", cutoffs=cutoffs))
        assert 0 < summary["test_nats_per_char"] < 10
    with pytest.raises(ValueError):
        train(_opts(corpus_dir, tmp_path / "bad", epochs=1, amp="fp8"))
