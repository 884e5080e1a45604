"""Blind panels: sheets that never betray a source, ratings parsed forgivingly, honest scores."""

import json
import os
import re
import subprocess
import sys

import pytest

from train.panel import (
    Poem,
    make_pairs,
    make_sheet,
    read_poem_set,
    real_poems,
)
from train.panel_score import parse_ratings, score, wilson_interval

pytestmark = pytest.mark.unit

MODEL, BASELINE, REAL = "secret_model_v9", "hidden_baseline_v3", "real_tang_calibration"
HEADS = ["春风秋雨", "山高水长", "明月清泉", "云开雾散", "松下听琴", "江南烟柳"]
FILLERS = {MODEL: "落花流水寒烟", BASELINE: "孤舟远客斜阳"}
TANG = [
    "朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。",
    "故人西辞黄鹤楼，烟花三月下扬州。孤帆远影碧空尽，唯见长江天际流。",
    "月落乌啼霜满天，江枫渔火对愁眠。姑苏城外寒山寺，夜半钟声到客船。",
]
SOURCES = (MODEL, BASELINE, REAL)


def acrostic(head: str, filler: str, shift: int) -> str:
    """A made-up 七言 acrostic whose lines start with HEAD's characters."""
    lines = [head[k] + (filler * 2)[(shift + k) % 6 :][:6] for k in range(4)]
    text = f"{lines[0]}，{lines[1]}。{lines[2]}，{lines[3]}。"
    assert head not in text
    return text


def poem_set(source: str, heads=HEADS[:3]) -> list[Poem]:
    if source == REAL:
        return [Poem(REAL, "", t) for t in TANG]
    return [Poem(source, h, acrostic(h, FILLERS[source], i)) for i, h in enumerate(heads)]


def all_poems() -> list[Poem]:
    return [p for source in SOURCES for p in poem_set(source)]


def write_files(directory, files):
    directory.mkdir(exist_ok=True)
    for name, body in files.items():
        (directory / name).write_text(body, encoding="utf-8")


def sheet_ids(text: str) -> list[str]:
    return re.findall(r"^## (\w+)$", text, flags=re.M)


def test_sheets_never_show_a_source_and_quality_sheets_never_show_a_head():
    files = make_sheet(all_poems(), seed=3, raters=2)
    assert set(files) == {
        *("sheet.md", "sheet-2.md", "relevance.md", "relevance-2.md"),
        *("key.json", "rubric.md"),
    }
    for name, body in files.items():
        if name != "key.json":
            assert not any(source in body for source in SOURCES), name
    for name in ("sheet.md", "sheet-2.md"):
        assert not any(head in files[name] for head in HEADS)
        assert "Head" not in files[name]
    key = json.loads(files["key.json"])["ids"]
    texts = {p.text for p in all_poems()}
    for name in ("sheet.md", "sheet-2.md"):
        ids = sheet_ids(files[name])
        assert {key[i]["text"] for i in ids} == texts and len(ids) == len(texts)
    relevance = sheet_ids(files["relevance.md"])
    assert {key[i]["source"] for i in relevance} == {MODEL, BASELINE}
    assert all(f"Head phrase: {key[i]['head']}" in files["relevance.md"] for i in relevance)
    # every id is distinct across the raters' sheets, so rater 2 can't copy rater 1
    every = [i for name in files if name.endswith(".md") for i in sheet_ids(files[name])]
    assert len(every) == len(set(every)) == len(key)


def test_the_same_seed_gives_the_same_files_and_another_seed_a_new_shuffle():
    assert make_sheet(all_poems(), seed=1) == make_sheet(all_poems(), seed=1)
    one, two = make_sheet(all_poems(), seed=1), make_sheet(all_poems(), seed=2)
    assert not set(sheet_ids(one["sheet.md"])) & set(sheet_ids(two["sheet.md"]))


def test_poem_sets_are_normalised_so_formatting_cannot_betray_a_source(tmp_path):
    path = tmp_path / "set.jsonl"
    rows = [{"head": "春风秋雨", "text": "春落花流水寒,\n风落花流水寒."}, {"text": "白日依山尽。"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n")
    poems = read_poem_set(path, "x")
    assert poems == [
        Poem("x", "春风秋雨", "春落花流水寒，风落花流水寒。"),
        Poem("x", "", "白日依山尽。"),
    ]
    path.write_text('{"head": "春"}\n')
    with pytest.raises(ValueError, match=r"set\.jsonl:1"):
        read_poem_set(path, "x")


def rate(files):
    """Answer every sheet as a rater who likes the model, dislikes the baseline, loves Tang."""
    key = json.loads(files["key.json"])["ids"]
    quality = {MODEL: "5 4 4 4", BASELINE: "2 2 2 1", REAL: "4 5 5 5"}
    relevance = {MODEL: "5", BASELINE: "2"}
    lines = []
    for name, body in files.items():
        if name.endswith(".md"):
            for pid in sheet_ids(body):
                table = quality if key[pid]["kind"] == "quality" else relevance
                lines.append(f"{pid} {table[key[pid]['source']]}")
    return lines


def test_ratings_round_trip_to_means_by_source_and_agreement(tmp_path):
    files = make_sheet(all_poems(), seed=5, raters=2)
    write_files(tmp_path, files)
    first = {k: v for k, v in files.items() if k in ("sheet.md", "relevance.md", "key.json")}
    second = {k: v for k, v in files.items() if k in ("sheet-2.md", "relevance-2.md", "key.json")}
    some_id = sheet_ids(files["sheet.md"])[0]
    junk = ["ID fluency coherence meaning overall", "0000 3 3 3 3", f"{some_id} 6 1 1 1", "oops"]
    (tmp_path / "ratings.txt").write_text("\n".join(junk + rate(first)) + "\n")
    # a second rater answers in a looser style: colons, commas, lower-case ids
    loose = [line.lower().replace(" ", ",").replace(",", ": ", 1) for line in rate(second)]
    (tmp_path / "ratings-2.txt").write_text("\n".join(loose) + "\n")
    report = score(tmp_path)
    expected = [
        f"| {MODEL} | 5.00 | 4.00 | 4.00 | 4.00 | 3 | 5.00 | 3 |",
        f"| {BASELINE} | 2.00 | 2.00 | 2.00 | 1.00 | 3 | 2.00 | 3 |",
        f"| {REAL} | 4.00 | 5.00 | 5.00 | 5.00 | 3 | — | 0 |",
    ]
    for section in ("### ratings.txt", "### ratings-2.txt", "### All rating files"):
        table = report.split(section)[1].split("###")[0]
        if section == "### All rating files":  # both raters rated every poem
            expected = [row.replace(" 3 |", " 6 |") for row in expected]
        assert all(row in table for row in expected), section
    assert "| ratings-2.txt vs ratings.txt | 9 | 1.00 | 0.00 |" in report
    skipped = report.split("## Skipped lines")[1]
    assert "ratings.txt:1: unknown id" in skipped and "ratings.txt:2: unknown id" in skipped
    assert f"ratings.txt:3: not in the answer format: `{some_id} 6 1 1 1`" in skipped
    assert "ratings.txt:4: unknown id: `oops`" in skipped
    assert "ratings-2.txt" not in skipped


def test_parse_ratings_skips_and_reports_bad_lines_without_raising():
    kinds = {"AAAA": "quality", "BBBB": "relevance", "CCCC": "pair"}
    text = "AAAA 1 2 3 4\nAAAA 5 5 5 5\nBBBB 3 3\nBBBB x\nCCCC c\nCCCC b\n\n# note\nDDDD 1\n|"
    answers, problems = parse_ratings(text, kinds, "r.txt")
    assert answers == {"AAAA": (1.0, 2.0, 3.0, 4.0), "CCCC": ("B",)}
    assert [p.split(": ")[0] for p in problems] == [f"r.txt:{n}" for n in (2, 3, 4, 5, 9)]
    assert "answered twice" in problems[0] and "unknown id" in problems[-1]


def test_wilson_interval_on_a_known_count():
    low, high = wilson_interval(30, 40)
    assert low == pytest.approx(0.598, abs=0.002) and high == pytest.approx(0.858, abs=0.002)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(10, 10)[1] == 1.0


def pair_sets(n):
    heads = [f"{x}{y}春山" for x in "甲乙丙丁戊己庚辛壬癸" for y in "子丑寅卯辰巳午未申酉"][:n]
    baseline = [Poem(BASELINE, h, acrostic(h, FILLERS[BASELINE], i)) for i, h in enumerate(heads)]
    model = [Poem(MODEL, h, acrostic(h, FILLERS[MODEL], i)) for i, h in enumerate(heads)]
    return baseline, model


def test_pairs_are_blind_and_win_rates_map_back_to_sources(tmp_path):
    baseline, model = pair_sets(42)
    files = make_pairs([*baseline, Poem(BASELINE, "独有之头", "独…")], model, seed=7)
    assert not any(s in files[name] for s in SOURCES for name in ("pairs.md", "pairs_rubric.md"))
    key = json.loads(files["pairs_key.json"])
    assert (key["a"], key["b"]) == (BASELINE, MODEL) and len(key["pairs"]) == 42
    assert "独有之头" not in files["pairs.md"]
    firsts = [entry["A"] for entry in key["pairs"].values()]
    assert 10 < firsts.count(MODEL) < 32  # A/B order drawn per pair
    write_files(tmp_path, files)
    ids = sheet_ids(files["pairs.md"])
    assert sorted(ids) == sorted(key["pairs"])
    answers = []
    for n, pid in enumerate(ids):  # the model wins 30, loses 10, ties 2
        wanted = MODEL if n < 30 else BASELINE if n < 40 else None
        side = "=" if wanted is None else "A" if key["pairs"][pid]["A"] == wanted else "B"
        answers.append(f"{pid} {side}")
    (tmp_path / "pairs_ratings.txt").write_text("\n".join(answers) + "\n00XX A\n")
    report = score(tmp_path)
    assert f"## Pairs: {MODEL} (B set) against {BASELINE} (A set)" in report
    assert "| pairs_ratings.txt | 30 | 10 | 2 | 0.75 | 0.60–0.86 | win |" in report
    assert "pairs_ratings.txt:43: unknown id: `00XX A`" in report
    (tmp_path / "pairs_ratings.txt").write_text("\n".join(answers[:3]) + "\n")
    assert "| no clear winner |" in score(tmp_path)


def test_real_poems_are_picked_by_form_and_seed():
    corpus = [*TANG, "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。", "春眠不觉晓。"]
    picked = real_poems(corpus, 2, chars=7, lines=4, seed=1)
    assert {p.head for p in picked} == {""} and {p.text for p in picked} < set(TANG)
    assert picked == real_poems(corpus, 2, chars=7, lines=4, seed=1)
    assert [p.text for p in real_poems(corpus, 1, chars=5, lines=4)] == [corpus[3]]
    with pytest.raises(ValueError, match="only 3 poems"):
        real_poems(corpus, 4, chars=7, lines=4)


def cli(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "bot.cli", "panel", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow
def test_cli_round_trip_real_make_pairs_score(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "test.txt").write_text("\n".join([*TANG, "春眠不觉晓。"]) + "\n")
    sets = {}
    for source in (MODEL, BASELINE):
        sets[source] = tmp_path / f"{source}.jsonl"
        rows = [{"head": p.head, "text": p.text} for p in poem_set(source)]
        sets[source].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    sets[REAL] = tmp_path / "real.jsonl"
    res = cli("real", "--corpus", tmp_path / "corpus", "--n", 3, "--out", sets[REAL])
    assert res.returncode == 0, res.stderr
    assert [json.loads(line)["head"] for line in sets[REAL].read_text().splitlines()] == [""] * 3

    panel = tmp_path / "panel"
    sources = [arg for s in SOURCES for arg in ("--source", f"{s}={sets[s]}")]
    res = cli("make", *sources, "--out", panel, "--seed", 4)
    assert res.returncode == 0, res.stderr
    res = cli(
        "pairs",
        "--a",
        f"{BASELINE}={sets[BASELINE]}",
        "--b",
        f"{MODEL}={sets[MODEL]}",
        "--out",
        panel,
    )
    assert res.returncode == 0, res.stderr
    for name in ("sheet.md", "relevance.md", "pairs.md", "rubric.md", "pairs_rubric.md"):
        assert not any(s in (panel / name).read_text() for s in SOURCES), name
    assert not any(h in (panel / "sheet.md").read_text() for h in HEADS)

    key = json.loads((panel / "key.json").read_text())["ids"]
    (panel / "ratings.txt").write_text(
        "".join(
            f"{i} {'5 5 5 5' if e['source'] == REAL else '3 3 3 3'}\n"
            for i, e in key.items()
            if e["kind"] == "quality"
        )
    )
    pair_ids = sheet_ids((panel / "pairs.md").read_text())
    (panel / "pairs_ratings.txt").write_text("".join(f"{i} =\n" for i in pair_ids) + "nonsense\n")
    res = cli("score", panel)
    assert res.returncode == 0, res.stderr
    assert f"| {REAL} | 5.00 | 5.00 | 5.00 | 5.00 | 3 | — | 0 |" in res.stdout
    assert "| pairs_ratings.txt | 0 | 0 | 3 | — | 0.00–1.00 | no clear winner |" in res.stdout
    assert "pairs_ratings.txt:4: unknown id: `nonsense`" in res.stdout
    assert (panel / "scores.md").read_text().strip() == res.stdout.strip()
    (panel / "mine.txt").write_text("".join(f"{i} 2\n" for i, e in key.items() if e["head"]))
    res = cli(
        "score", panel, "--ratings", panel / "mine.txt", "--pair-ratings", panel / "mine.txt"
    )
    assert res.returncode == 0, res.stderr
    assert f"| {MODEL} | — | — | — | — | 0 | 2.00 | 3 |" in res.stdout
    assert "pairs_ratings.txt" not in res.stdout and "mine.txt:1: unknown id" in res.stdout


@pytest.mark.slow
def test_cli_refuses_bad_input_with_one_line_not_a_traceback(tmp_path):
    good = tmp_path / "a.jsonl"
    good.write_text(
        json.dumps({"head": "春风秋雨", "text": acrostic("春风秋雨", "落花流水寒烟", 0)})
    )
    for args in (
        ("make", "--source", "no-equals-sign", "--out", tmp_path / "p"),
        ("make", "--source", f"x={tmp_path / 'missing.jsonl'}", "--out", tmp_path / "p"),
        ("make", "--source", f"x={good}", "--source", f"x={good}", "--out", tmp_path / "p"),
        ("pairs", "--a", f"x={good}", "--b", f"x={good}", "--out", tmp_path / "p"),
        ("score", tmp_path / "nothing-here"),
        ("real", "--corpus", tmp_path, "--out", tmp_path / "r.jsonl"),
    ):
        res = cli(*args)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr
    assert cli("make", "--source", f"x={good}", "--out", tmp_path / "p").returncode == 0
    res = cli("make", "--source", f"x={good}", "--out", tmp_path / "p", "--seed", 9)
    assert res.returncode == 2 and "--force" in res.stderr
    assert cli("make", "--source", f"x={good}", "--out", tmp_path / "p", "--force").returncode == 0
