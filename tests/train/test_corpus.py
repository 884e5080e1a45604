"""The corpus builder on a tarball laid out like chinese-poetry@2.0.1."""

import json

import pytest

from train.corpus import build_corpus, clean_title, read_split, read_themed, regularize, split_of

pytestmark = pytest.mark.unit


def test_build_keeps_regular_poems_simplified_and_deduplicated(corpus_dir):
    stats = json.loads((corpus_dir / "stats.json").read_text())
    poems = [p for s in ("train", "val", "test") for p in read_split(corpus_dir, s)]
    # 400 generated + 1 annotated poem; the 4 irregular ones and 1 duplicate are dropped
    assert stats["poems"] == len(poems) == 401
    assert "春风花月山，水云天江南。秋雨夜来人，归何处长门。" in poems
    assert len(set(poems)) == len(poems)
    assert all("風" not in p and "雲" not in p for p in poems)  # simplified
    assert any("风" in p for p in poems)
    for p in poems:
        clauses = p.replace("。", "，").rstrip("，").split("，")
        assert len(clauses) in (4, 8)
        assert len({len(c) for c in clauses}) == 1 and len(clauses[0]) in (5, 7)
    assert sum(stats["splits"].values()) == stats["poems"]
    assert sum(stats["forms"].values()) == stats["poems"]
    # song files sort first, so the Song copy of the duplicated Tang poem is the one kept
    assert stats["dynasties"] == {"song": 202, "tang": 199}
    assert stats["vocabulary"] == len({ch for p in poems for ch in p if ch not in "，。"})


def test_annotations_are_removed_and_irregular_poems_rejected():
    assert regularize(["春風（一作雨）花月山，水雲天江南。", "秋雨夜來人，歸何處長門。"]) == (
        "春风花月山，水云天江南。秋雨夜来人，归何处长门。"
    )
    assert regularize(["春風花月山，水雲天。"]) is None
    assert regularize(["春風花月Ab，水雲天江南。秋雨夜來人，歸何處長門。"]) is None


def test_split_is_deterministic_and_about_96_2_2(corpus_dir, tmp_path, tarball):
    again = build_corpus(tarball, tmp_path)
    first = json.loads((corpus_dir / "stats.json").read_text())
    assert again["fingerprint"] == first["fingerprint"]
    assert read_split(tmp_path, "test") == read_split(corpus_dir, "test")
    texts = [f"诗{i}" for i in range(20000)]
    share = {
        s: sum(split_of(t) == s for t in texts) / len(texts) for s in ("train", "val", "test")
    }
    assert (
        0.95 < share["train"] < 0.97
        and 0.015 < share["val"] < 0.025
        and 0.015 < share["test"] < 0.025
    )


def test_a_cached_tarball_is_used_without_running_npm(tmp_path, monkeypatch):
    import subprocess

    from train.corpus import TARBALL_NAME, fetch_tarball

    (tmp_path / TARBALL_NAME).write_bytes(b"cached")
    monkeypatch.setattr(
        subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("npm ran"))
    )
    assert fetch_tarball(tmp_path) == tmp_path / TARBALL_NAME


@pytest.mark.slow
def test_cli_builds_the_corpus_from_a_local_tarball(tarball, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "corpus"
    args = ["corpus", "build", "--tarball", str(tarball), "--out", str(out)]
    res = subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["poems"] == 401
    assert sorted(p.name for p in out.iterdir()) == [
        "stats.json",
        "test.titles.txt",
        "test.txt",
        "train.titles.txt",
        "train.txt",
        "val.titles.txt",
        "val.txt",
    ]
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "corpus",
            "build",
            "--tarball",
            str(tmp_path / "nope.tgz"),
        ],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "no such tarball" in missing.stderr


def test_titles_are_cleaned_into_themes():
    assert clean_title("陪鄭廣文遊何將軍山林十首 一") == "陪郑广文游何将军山林"
    assert clean_title("秋興八首 其一") == "秋兴"
    assert clean_title("送友人 二") == "送友人"
    assert clean_title("江樓夜雨（一作夜泊）") == "江楼夜雨"
    assert clean_title("春日憶李白") == "春日忆李白"
    for generic in ("句", "偈", "無題", "无题", "絕句"):
        assert clean_title(generic) == ""
    assert len(clean_title("奉和聖製從蓬萊向興慶閣道中留春雨中春望之作應制")) == 12


def test_each_poem_keeps_its_cleaned_title(corpus_dir):
    themed = [pair for s in ("train", "val", "test") for pair in read_themed(corpus_dir, s)]
    assert [p for _, p in themed] == [
        p for s in ("train", "val", "test") for p in read_split(corpus_dir, s)
    ]
    themes = {t for t, _ in themed}
    assert {"春日", "秋思", "送友人", "江楼夜雨", "山中", ""} <= themes
    assert not themes & {"无题", "句", "秋思二首 其一"}
    # the annotated poem (title 注) keeps its title next to its text
    assert ("注", "春风花月山，水云天江南。秋雨夜来人，归何处长门。") in themed
