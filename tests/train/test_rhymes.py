"""Rhyme by attested readings: the derivation from poems, the shipped table, and the decoder."""

import json
import os
import subprocess
import sys

import pytest

from engine import Poet
from engine.checks import shared_rhyme
from engine.prosody import SHIPPED_RHYMES, Prosody
from train.corpus import corpus_fingerprint
from train.rhymes import derive_rhymes, rhyme_ends

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def prosody():
    return Prosody.load()


@pytest.fixture(scope="module")
def table():
    return Prosody.load(attested=False)


def quatrain(first: str, second: str) -> str:
    return f"春风吹柳絮，客子望江{first}。明月照高楼，归人梦故{second}。"


def test_shipped_table_rhymes_by_attested_readings(prosody, table):
    assert prosody.ping_group_names("逢") == {"二冬"}
    assert prosody.ping_group_names("中") == {"一东"}
    assert not prosody.rhyme("逢", "中") and prosody.rhyme("逢", "冬")
    assert prosody.ping_group_names("行") == {"八庚", "七阳"}  # both readings are real
    assert table.rhyme("逢", "中")  # the full table's rare 一东 reading (蓬)
    assert prosody.tones("逢") == table.tones("逢")  # tones keep every reading
    assert prosody.is_ping("句") and not prosody.ping_group_names("句")  # never rhymed as 平
    lines = ["岁晚相逢又一年", "岁寒何事不相逢", "平生自古无多事", "安得人间一梦中"]
    assert shared_rhyme(table, lines) == "一东" and shared_rhyme(prosody, lines) is None
    shipped = json.loads(SHIPPED_RHYMES.read_text(encoding="utf-8"))
    assert shipped["source"] and set(shipped["thresholds"]) >= {"min_uses", "min_share"}


def test_vocab_masks_use_attested_readings_for_rhyme_only(prosody):
    masks = prosody.vocab_masks(["<unk>", "逢", "中", "冬", "句"])
    dong, don = masks.names.index("一东"), masks.names.index("二冬")
    assert masks.member[:, 1].tolist() == [i == don for i in range(len(masks.names))]
    assert masks.member[dong, 2] and masks.member[don, 3]
    assert not masks.member[:, 4].any() and masks.ping[4] and masks.ze[4]
    assert not masks.member[:, 0].any()


def test_derivation_keeps_readings_with_real_evidence(table):
    poems = (
        [quatrain("行", "城")] * 20  # 行 in 八庚 twenty times …
        + [quatrain("行", "长")]  # … and in 七阳 once: noise
        + [quatrain("簪", "心")] * 10  # 簪 in 十二侵 and in 十三覃: both real
        + [quatrain("簪", "南")] * 5
        + ["一句春风吹，江城秋月明。"]  # 句 is never a rhyme
    )
    assert rhyme_ends(poems[0]) == ["行", "城"]
    derived = derive_rhymes(poems, table)
    groups = derived["groups"]
    assert groups["行"] == ["八庚"]
    assert set(groups["簪"]) == {"十二侵", "十三覃"}
    assert groups["句"] == []
    assert "城" not in groups and "心" not in groups  # a single 平 group: the table's
    assert derived["uses"]["行"] == {"八庚": 20, "七阳": 1}
    narrowed = Prosody(_raw_table(), groups)
    assert narrowed.ping_group_names("行") == {"八庚"} and narrowed.rhyme("城", "行")
    assert not narrowed.rhyme("长", "行") and narrowed.ping_group_names("长") == {"七阳"}


def _raw_table() -> dict:
    from engine.prosody import _table_path

    return json.loads(_table_path().read_text(encoding="utf-8"))


@pytest.mark.slow
def test_corpus_rhymes_command_writes_the_table(corpus_dir, tmp_path):
    out = tmp_path / "rhymes.json"
    cmd = [sys.executable, "-m", "bot.cli", "corpus", "rhymes", "--corpus", str(corpus_dir)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [*cmd, "--out", str(out)], capture_output=True, text=True, env=env, timeout=120
    )
    assert res.returncode == 0, res.stderr
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["source"] == corpus_fingerprint(corpus_dir)
    assert set(written) == {"source", "thresholds", "groups", "uses"}
    assert json.loads(res.stdout)["polyphonic"] == len(written["groups"])
    assert not list(tmp_path.glob(".*.tmp"))


def test_decoder_ends_even_lines_only_in_attested_groups(prosody):
    poet = Poet.load()  # the shipped model; with the full table's masks these heads rhymed 逢/中
    for head in ["岁岁平安", "前程似锦", "永结同心", "有容乃大", "桃李春风", "乘风破浪"]:
        poem = poet.acrostic(head, chars_per_line=7)
        assert "rhyme" not in poem.params.get("relaxed", []), poem.text
        group = poem.checks["rhyme"]
        ends = [line[-1] for i, line in enumerate(poem.lines) if i % 2 == 1]
        assert group and all(group in prosody.ping_group_names(ch) for ch in ends), poem.text
