"""平水韵 lookups, tone patterns, and rhyme/tone constraints in the decoder."""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.checks import footer, poem_checks, shared_rhyme
from engine.forms import line_pattern, start_label, tone_agreement
from engine.prosody import PING, ZE, Prosody

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def prosody():
    return Prosody.load()


def test_known_characters(prosody):
    assert prosody.rhyme("东", "同") and prosody.rhyme("東", "同")
    assert not prosody.rhyme("东", "真")
    assert prosody.tones("一") == {ZE}  # 入声四质, though 一 is tone 1 in Mandarin
    assert prosody.tones("看") == {PING, ZE}  # 十四寒 and 十五翰
    assert prosody.ping_group_names("人") == {"十一真"}
    assert prosody.tones("𪚥") == set()  # unknown: neither 平 nor 仄
    assert not prosody.is_ping("𪚥") and not prosody.tones("𪚥")


def test_simplified_characters_map_through_all_traditional_forms(prosody):
    names = {g.name for g in prosody.groups_of("干")}  # 乾 (寒, 先), 幹 (翰), 干 (寒)
    assert {"十四寒", "一先", "十五翰"} <= names


def test_tone_patterns():
    assert line_pattern("仄起", 0, 5) == "仄仄平平仄"
    assert line_pattern("仄起", 1, 7) == "仄仄平平仄仄平"
    assert [line_pattern("平起", i, 5)[1] for i in range(8)] == list("平仄仄平平仄仄平")  # 粘对
    assert start_label("仄起", 5) == "仄起" and start_label("仄起", 7) == "平起"


def test_checks_and_footer_on_a_real_poem(prosody):
    lines = ["白日依山尽", "黄河入海流", "欲穷千里目", "更上一层楼"]
    checks = poem_checks(prosody, "白黄欲更", lines, 5)
    assert checks["acrostic"] and checks["form"] == "五言" and checks["rhyme"] == "十一尤"
    fit, total = tone_agreement(prosody.tones, lines, 5)
    assert total == 20 and fit >= 16
    assert footer(checks) == f"藏头✓ 五言✓ 平水韵·十一尤✓ 平仄{fit}/20"
    assert shared_rhyme(prosody, ["春风", "秋月"]) is None  # 月 is 仄


common = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
HEAD_CHARS = "春风花月山水云天江南秋雨夜来人归何处长门算法龘"
heads = st.text(alphabet=HEAD_CHARS, min_size=2, max_size=8)


@pytest.mark.slow
def test_rhyme_and_tones_are_rarely_relaxed_where_the_corpus_can_rhyme(poet):
    """The fixture corpus rhymes in groups with characters to spare (tests/fixtures.py), so the
    properties below check the rules on nearly every poem, not only where they were kept."""
    rng = random.Random(0)
    relaxed = {"rhyme": 0, "tones": 0}
    for _ in range(60):
        head = "".join(rng.choice(HEAD_CHARS) for _ in range(rng.randint(2, 8)))
        width, mode = rng.choice([5, 7]), rng.choice(["beam", "sample"])
        poem = poet.acrostic(head, chars_per_line=width, mode=mode, seed=rng.randint(0, 999))
        relaxed["rhyme"] += "rhyme" in poem.params.get("relaxed", [])
        strict = poet.acrostic(head, chars_per_line=width, tones="strict")
        relaxed["tones"] += "tones" in strict.params.get("relaxed", [])
    assert relaxed["rhyme"] <= 3 and relaxed["tones"] <= 3, relaxed  # at most 5%


@common
@given(
    head=heads,
    width=st.sampled_from([5, 7]),
    mode=st.sampled_from(["beam", "sample"]),
    seed=st.integers(0, 999),
)
def test_rhyme_on_poems_rhyme_unless_relaxed(poet, prosody, head, width, mode, seed):
    poem = poet.acrostic(head, chars_per_line=width, mode=mode, seed=seed)
    if "rhyme" in poem.params.get("relaxed", []):
        return
    assert poem.checks["rhyme"] is not None
    ends = [line[-1] for i, line in enumerate(poem.lines) if i % 2 == 1]
    assert all(prosody.is_ping(ch) for ch in ends)
    assert all(prosody.rhyme(ends[0], ch) for ch in ends)


@common
@given(head=heads, width=st.sampled_from([5, 7]))
def test_strict_tones_hold_on_two_four_six_unless_relaxed(poet, prosody, head, width):
    poem = poet.acrostic(head, chars_per_line=width, tones="strict")
    if "tones" in poem.params.get("relaxed", []):
        return
    start = "仄起" if start_label("仄起", width) == poem.params["tone_pattern"] else "平起"
    for i, line in enumerate(poem.lines):
        pattern = line_pattern(start, i, width)
        for pos in (1, 3, 5)[: width // 2]:
            assert pattern[pos] in prosody.tones(line[pos]), (poem.text, i, pos)


def test_rhyme_can_be_switched_off_and_options_are_recorded(poet):
    poem = poet.acrostic("春风秋雨", rhyme=False, tones="loose")
    assert poem.params["rhyme"] is False and poem.params["tones"] == "loose"
    with pytest.raises(ValueError):
        poet.acrostic("春风", tones="wild")


def test_novelty_never_repeats_a_corpus_line(tiny_model_dir):
    from engine import Poet
    from engine.checkpoint import load_model_dir
    from engine.novelty import corpus_line_hashes

    plain = Poet.load(tiny_model_dir).acrostic("春风秋雨", chars_per_line=5, novelty=False)
    loaded = load_model_dir(tiny_model_dir)
    loaded.line_hashes = corpus_line_hashes([plain.text])  # that poem is now "the corpus"
    guarded = Poet(loaded)
    for kwargs in ({}, {"mode": "sample", "seed": 3, "temperature": 0.3}):
        poem = guarded.acrostic("春风秋雨", chars_per_line=5, **kwargs)
        assert poem.params["novelty"] is True and "novelty" not in poem.params.get("relaxed", [])
        assert not set(poem.lines) & set(plain.lines)
    assert guarded.acrostic("春风秋雨", chars_per_line=5, novelty=False).lines == plain.lines


def test_positions_tail_and_middle(poet):
    tail = poet.acrostic("春风秋雨", chars_per_line=5, position="tail")
    assert [line[-1] for line in tail.lines] == list("春风秋雨") and tail.checks[
        "position"
    ] == "藏尾"
    middle = poet.acrostic("春风秋雨", chars_per_line=7, position=4)
    assert [line[3] for line in middle.lines] == list("春风秋雨") and middle.checks["acrostic"]
    with pytest.raises(ValueError):
        poet.acrostic("春风", chars_per_line=5, position=6)


@common
@given(head=heads, tones=st.sampled_from(["loose", "strict"]), width=st.sampled_from([5, 7]))
def test_characters_of_unknown_tone_never_fill_a_constrained_slot(
    poet, prosody, head, tones, width
):
    poem = poet.acrostic(head, chars_per_line=width, tones=tones)
    if "tones" in poem.params.get("relaxed", []):
        return
    for i, line in enumerate(poem.lines):
        checked = [1, 3, 5][: width // 2] + ([width - 1] if i % 2 == 0 and i > 0 else [])
        for pos in checked:
            assert prosody.tones(line[pos]), (poem.text, i, pos)
