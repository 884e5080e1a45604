"""The acrostic contract of Poet.acrostic, checked as properties over random heads."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import HeadError, Poem, Poet
from engine.text import is_han

pytestmark = pytest.mark.unit

# In the fixture vocabulary, and Han characters it has never seen.
KNOWN = "春风花月山水云天江南秋雨夜来人归何处长门"
UNKNOWN = "算法进阶龘靐鑫犇羴𠀀𪚥"
heads = st.text(alphabet=KNOWN + UNKNOWN, min_size=1, max_size=12)
common = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_contract(poet, poem: Poem, head: str, width: int, max_repeat: int = 2):
    assert poem.head == head
    assert len(poem.lines) == len(head)
    for ch, line in zip(head, poem.lines, strict=True):
        assert line[0] == ch
        assert len(line) == width
        assert all(is_han(c) for c in line)
    marks = [c for c in poem.text if c in "，。"]
    assert marks == ["，" if i % 2 == 0 and i != len(head) - 1 else "。" for i in range(len(head))]
    assert poem.text.endswith("。")
    assert "".join(c for c in poem.text if c not in "，。") == "".join(poem.lines)
    free = [c for line in poem.lines for c in line[1:]]
    if "max_repeat" in poem.params.get(
        "relaxed", []
    ):  # allowed only when the vocabulary is too small
        chars_in_vocab = len(poet.vocab) - poet.vocab.first_char_id
        assert len(free) + len(head) > max_repeat * chars_in_vocab
        return
    for c in set(free):
        assert free.count(c) + head.count(c) <= max(max_repeat, head.count(c)), c


@common
@given(head=heads, width=st.sampled_from([5, 7]), beam=st.integers(1, 8))
def test_beam_meets_the_contract(poet, head, width, beam):
    poem = poet.acrostic(head, chars_per_line=width, mode="beam", beam_size=beam)
    assert_contract(poet, poem, head, width)
    assert poem.params["beam_size"] == beam and poem.model_version == poet.model_version
    again = poet.acrostic(head, chars_per_line=width, mode="beam", beam_size=beam)
    assert again.lines == poem.lines


@common
@given(head=heads, width=st.sampled_from([5, 7]))
def test_the_default_search_meets_the_contract_and_is_deterministic(poet, head, width):
    poem = poet.acrostic(head, chars_per_line=width)
    assert_contract(poet, poem, head, width)
    assert poem.params["mode"] == "diverse" and poem.params["theme"]
    assert poet.acrostic(head, chars_per_line=width).lines == poem.lines


@common
@given(
    head=heads,
    width=st.sampled_from([5, 7]),
    seed=st.integers(0, 2**31 - 1),
    temperature=st.floats(0.2, 2.0),
    top_p=st.floats(0.05, 1.0),
    top_k=st.integers(0, 20),
)
def test_sampling_meets_the_contract_and_is_reproducible(
    poet, head, width, seed, temperature, top_p, top_k
):
    kwargs = dict(
        chars_per_line=width, mode="sample", temperature=temperature, top_p=top_p, top_k=top_k
    )
    poem = poet.acrostic(head, seed=seed, **kwargs)
    assert_contract(poet, poem, head, width)
    assert poem.params["seed"] == seed
    assert poet.acrostic(head, seed=seed, **kwargs).text == poem.text


def test_unknown_head_characters_are_printed_exactly_and_recorded(poet):
    poem = poet.acrostic("算龘𪚥春", chars_per_line=5)
    assert [line[0] for line in poem.lines] == ["算", "龘", "𪚥", "春"]
    fallbacks = poem.params["fallbacks"]
    assert set(fallbacks) == {"算", "龘", "𪚥"}
    assert {f["via"] for f in fallbacks.values()} <= {"variant", "pinyin", "unk"}
    assert fallbacks["𪚥"] == {"token": "<unk>", "via": "unk"}


def test_traditional_and_spaced_heads_are_normalised(poet):
    poem = poet.acrostic(" 春風， 秋雨 ", chars_per_line=5)
    assert poem.head == "春风秋雨"
    assert_contract(poet, poem, "春风秋雨", 5)


def tiny_vocabulary_poet() -> Poet:
    """An untrained model over the ~45 characters of CHARSET (tests/fixtures.py)."""
    from pathlib import Path

    from engine.checkpoint import LoadedModel
    from engine.model import CharLSTM, ModelConfig
    from engine.text import to_simplified
    from engine.vocab import Vocab
    from tests.fixtures import CHARSET

    torch.manual_seed(0)
    vocab = Vocab.build([to_simplified(CHARSET)], min_count=1)
    model = CharLSTM(ModelConfig(len(vocab), 16, 32, dropout=0.0, cutoffs=()))
    return Poet(LoadedModel(model, vocab, {"version": "tiny-vocabulary"}, Path("tiny")))


def test_a_tiny_vocabulary_cannot_make_the_decoder_dead_end():
    poet = tiny_vocabulary_poet()
    # 12 lines of 7 need 72 free characters; this vocabulary has ~45 characters × 2 uses.
    poem = poet.acrostic("春" * 12, chars_per_line=7, mode="beam", beam_size=8)
    assert "max_repeat" in poem.params["relaxed"]
    assert_contract(poet, poem, "春" * 12, 7)
    poem = poet.acrostic("春风", chars_per_line=7, max_repeat=1)
    assert_contract(poet, poem, "春风", 7, max_repeat=1)


@pytest.mark.parametrize("head", ["", "abc", "春😀", "春" * 13])
def test_bad_heads_raise_head_error(poet, head):
    with pytest.raises(HeadError):
        poet.acrostic(head)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"chars_per_line": 6},
        {"mode": "greedy"},
        {"beam_size": 0},
        {"temperature": 0, "mode": "sample"},
        {"top_p": 0},
    ],
)
def test_bad_options_raise_value_error(poet, kwargs):
    with pytest.raises(ValueError):
        poet.acrostic("春风", **kwargs)


def test_nats_per_char_matches_the_training_framing(poet):
    text = "春风花月山，水云天江南。秋雨夜来人，归何处长门。"
    value = poet.nats_per_char(text)
    assert 0 < value < 10
    assert poet.nats_per_char("春風花月山，水雲天江南。秋雨夜來人，歸何處長門。") == pytest.approx(
        value
    )


def test_traditional_text_keeps_each_head_character_as_the_head_converts():
    """Probe 2026-12-07: 万里长征 in 繁 titled 《萬里長征》 had a line 4 beginning 徵 (征雁 →
    徵雁 as a phrase) and a line 2 beginning 裏, yet said 藏头✓."""
    from engine.poet import _traditional
    from engine.text import to_traditional

    text = "万里山河，里中明月。长风破浪，征雁无声。"
    shown = _traditional(text, "万里长征", 4, 0)
    assert [line[0] for line in shown.replace("。", "，").split("，")[:4]] == list(
        to_traditional("万里长征")
    )
    assert shown[1:].startswith("里山河") and "無聲" in shown  # the rest converts as before
    tail = _traditional("山河万里，明月中里。", "万里", 4, 3)  # 藏尾: the head ends each line
    assert tail[3] == to_traditional("万里")[0] and tail[8] == "里"
