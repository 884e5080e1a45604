"""A real (tiny) retrain, end to end in-process: the candidate is a complete model directory
with its clichés measured again (or carried over and recorded so), and the gate compares what
readers see, the formula metrics included."""

from __future__ import annotations

import pytest

from engine.checkpoint import read_meta
from engine.parts import missing_parts
from train.retrain import retrain
from train.retrain_options import RetrainOptions

pytestmark = pytest.mark.slow

HEADS = ["春风", "明月", "山水", "花开"]
RATED = ["春风花月山，水云天江南。秋雨夜来人，归何处长门。"]


def options(tmp_path, base, corpus, **changes) -> RetrainOptions:
    values = {
        "base": base, "corpus": corpus, "out": tmp_path / "candidate",
        "report": tmp_path / "report.json", "extra_texts": RATED, "heads": HEADS,
        "max_minutes": 0.6, "max_steps": 4, "eval_minutes": 0.05, "tokens_per_batch": 512,
        "cliche_heads": 30, "cliche_min_heads": 10, "cliche_rounds": 1,
        "cliche_theme_rounds": 1, **changes,
    }  # fmt: skip
    return RetrainOptions(**values)


def test_a_retrain_measures_the_candidates_cliches_and_gates_on_formulas(
    tmp_path, corpus_dir, tiny_model_dir
):
    assert "cliches" in read_meta(tiny_model_dir)  # the parent has a table
    report = retrain(options(tmp_path, tiny_model_dir, corpus_dir))
    meta = read_meta(tmp_path / "candidate")
    assert missing_parts(tmp_path / "candidate") == []
    table = meta["cliches"]
    assert table["measured_by"] == "retrain" and "carried_over_from" not in table
    assert table["heads"] == 30 and len(table["new_per_round"]) == 2  # one random, one title
    assert report["cliches"] == {"measured": True, "heads": 30, "count": len(table["ngrams"])}
    for side in ("base", "candidate"):
        for metric in ("shared_trigram_rate", "repeated_chars_per_poem", "rhyme_rate",
                       "format_rate", "theme_information", "test_nats_per_char",
                       "rated_nats_per_char"):  # fmt: skip
            assert report[side][metric] is not None, (side, metric)
        assert report[side]["poems"] == len(HEADS)
    assert isinstance(report["promote"], bool) and report["reason"]
    assert report["minutes"] <= 0.6 + 0.25  # the budget covers the whole run (plus start-up)


def test_without_budget_for_a_measurement_the_parents_table_is_carried_over(
    tmp_path, corpus_dir, tiny_model_dir
):
    report = retrain(options(tmp_path, tiny_model_dir, corpus_dir, cliche_minutes=0))
    parent, table = read_meta(tiny_model_dir), read_meta(tmp_path / "candidate")["cliches"]
    assert table["carried_over_from"] == parent["version"]
    assert table["ngrams"] == parent["cliches"]["ngrams"]
    assert report["cliches"]["measured"] is False


def test_a_candidate_without_a_cliche_table_is_rejected_naming_it(
    tmp_path, corpus_dir, tiny_model_dir
):
    import shutil

    from engine.checkpoint import load_model_dir, resave

    bare = tmp_path / "bare"
    shutil.copytree(tiny_model_dir, bare)
    loaded = load_model_dir(bare)
    del loaded.meta["cliches"]
    resave(loaded, {})
    report = retrain(options(tmp_path, bare, corpus_dir, cliche_minutes=0, min_gain=0))
    assert not report["promote"] and report["failed_metric"] == "cliches"
    assert report["reason"].startswith("cliches")


def test_nothing_to_learn_trains_nothing(tmp_path, corpus_dir, tiny_model_dir):
    report = retrain(options(tmp_path, tiny_model_dir, corpus_dir, extra_texts=[]))
    assert report["skipped"] and not report["promote"]
    assert not (tmp_path / "candidate").exists()


def test_a_retrain_keeps_the_parents_plan_data(tmp_path, corpus_dir, tiny_model_dir):
    import shutil

    from engine.checkpoint import load_model_dir, resave

    parent = tmp_path / "planned"
    shutil.copytree(tiny_model_dir, parent)
    data = {"triggers": {"春风": ["spring"]}, "categories": {"spring": ["月山", "江南"]}}
    resave(load_model_dir(parent), {}, plan_data=data)
    retrain(options(tmp_path, parent, corpus_dir, cliche_minutes=0))
    candidate = load_model_dir(tmp_path / "candidate")
    assert candidate.plan_data == data and candidate.meta["plan_carried_from"] == "tiny"
