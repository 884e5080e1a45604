"""The `acrostic` console script, run as a real subprocess."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def run(*args, model=None):
    cmd = [sys.executable, "-m", "bot.cli", *args]
    if model is not None:
        cmd += ["--model", str(model)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow
def test_poem_prints_one_line_per_head_character(tiny_model_dir):
    res = run("poem", "春风秋雨", "--five", model=tiny_model_dir)
    assert res.returncode == 0, res.stderr
    *lines, footer = res.stdout.splitlines()
    lines = [line for line in lines if not line.startswith(("意象：", "注："))]  # notes
    assert footer.startswith("藏头✓ 五言✓")
    assert [line[0] for line in lines] == list("春风秋雨")
    assert [line[-1] for line in lines] == ["，", "。", "，", "。"]
    assert all(len(line) == 6 for line in lines)
    assert "diverse" in res.stderr and "theme 春风秋雨" in res.stderr


@pytest.mark.slow
def test_json_output_has_the_documented_keys_and_is_reproducible(tiny_model_dir):
    args = ("poem", "春風", "--sample", "--temperature", "0.7", "--seed", "5", "--json")
    first, second = run(*args, model=tiny_model_dir), run(*args, model=tiny_model_dir)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert {"head", "lines", "text", "model_version", "score", "params", "checks"} == set(data)
    assert data["head"] == "春风" and len(data["lines"][0]) == 7
    assert data["params"]["seed"] == 5 and data["params"]["mode"] == "sample"
    assert first.stdout == second.stdout


@pytest.mark.slow
@pytest.mark.parametrize("head", ["hello", "春😀", "", "，。", "春" * 100])
def test_bad_heads_exit_2_with_one_clear_line(tiny_model_dir, head):
    res = run("poem", head, model=tiny_model_dir)
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_a_missing_model_is_a_clear_error(tmp_path):
    res = run("poem", "春风", model=tmp_path)
    assert res.returncode == 2 and "not a model directory" in res.stderr
    assert "Traceback" not in res.stderr


def test_help_lists_the_commands():
    res = run("--help")
    assert res.returncode == 0
    for command in ("poem", "corpus", "train"):
        assert command in res.stdout


@pytest.mark.slow
def test_finish_only_rebuilds_metrics_and_line_index(tiny_model_dir, corpus_dir, tmp_path):
    import shutil

    from engine.checkpoint import LINES, read_meta

    copy = tmp_path / "m"
    shutil.copytree(tiny_model_dir, copy)
    (copy / LINES).unlink()  # a model directory from before the novelty guard
    meta = json.loads((copy / "model.json").read_text())
    del meta["lines_sha256"]
    (copy / "model.json").write_text(json.dumps(meta, ensure_ascii=False))
    res = run("train", "--corpus", str(corpus_dir), "--out", str(copy), "--finish-only")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout[res.stdout.index("{") :])["test_nats_per_char"] > 0
    assert (copy / LINES).exists() and read_meta(copy)["lines_sha256"]


@pytest.mark.slow
def test_prosody_options_and_footer(tiny_model_dir):
    res = run(
        "poem",
        "春风秋雨",
        "--five",
        "--tones",
        "strict",
        "--position",
        "tail",
        "--json",
        model=tiny_model_dir,
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["params"]["tones"] == "strict" and data["params"]["position"] == "tail"
    assert [line[-1] for line in data["lines"]] == list("春风秋雨")
    plain = run("poem", "春风", "--no-rhyme", model=tiny_model_dir)
    assert plain.returncode == 0 and "藏头✓ 七言✓" in plain.stdout
    bad = run("poem", "春风", "--tones", "wild", model=tiny_model_dir)
    assert bad.returncode == 2 and "tones" in bad.stderr and "Traceback" not in bad.stderr
    assert "None" not in bad.stderr and "off" in bad.stderr  # the option's own words
    zero = run("poem", "春风", "--beam", "0", model=tiny_model_dir)  # it ran the default search
    assert zero.returncode == 2 and "--beam 0" in zero.stderr


@pytest.mark.slow
def test_eval_and_train_report_bad_input_in_one_line(tiny_model_dir, corpus_dir, tmp_path):
    heads = tmp_path / "heads.txt"
    heads.write_text("春风\nhello\n", encoding="utf-8")
    args = (
        "eval",
        "--corpus",
        str(corpus_dir),
        "--heads",
        str(heads),
        "--out",
        str(tmp_path / "r"),
    )
    res = run(*args, model=tiny_model_dir)
    assert res.returncode == 2 and "h、e、l、o" in res.stderr and "Traceback" not in res.stderr
    res = run("train", "--corpus", str(corpus_dir), "--out", str(tmp_path / "m"), "--amp", "fp8")
    assert res.returncode == 2 and "amp" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
def test_keywords_and_theme_as_in_chat_or_as_options_and_the_plan_is_shown(tiny_model_dir):
    """`意象:` and `主题:` after the head take the chat's one rule; --keywords is the same; the
    plan the poem was written to is printed under it (and is in --json)."""
    labelled = run("poem", "春风", "意象:月山,江南", "主题:送别", "--five", model=tiny_model_dir)
    assert labelled.returncode == 0, labelled.stderr
    *lines, plan, _footer = labelled.stdout.splitlines()
    assert "月山" in lines[0] and "江南" in lines[1]
    assert plan == "意象：月山 · 江南"
    assert "theme 送别" in labelled.stderr
    option = run("poem", "春风", "--keywords", "月山，江南", "--theme", "送别", "--five", "--json",
                 model=tiny_model_dir)  # fmt: skip
    data = json.loads(option.stdout)
    assert data["params"]["outline"] == ["月山", "江南"] and data["params"]["theme"] == "送别"
    assert data["text"].replace("，", "\n").replace("。", "\n").split() == lines_text(lines)


def lines_text(lines: list[str]) -> list[str]:
    return [line.rstrip("，。") for line in lines]


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, said",
    [
        (("春风", "意象:"), "意象为空"),
        (("春风", "意象:月山", "--keywords", "江南"), "give the keywords once"),
        (("春风", "主题:秋", "--theme", "春"), "give the theme once"),
        (("春风主题:秋",), "put a space before 主题:"),
        (("春风", "意象:月山,江南,山水"), "3 keywords for 2 lines"),
    ],
)
def test_a_malformed_theme_or_keyword_is_one_line(tiny_model_dir, args, said):
    res = run("poem", *args, model=tiny_model_dir)
    assert res.returncode == 2 and res.stdout == "", res.stderr
    assert said in res.stderr and res.stderr.count("\n") == 1
