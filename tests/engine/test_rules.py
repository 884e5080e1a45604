"""The anti-formula rules of the search, as properties over random heads: no character 3-gram
twice, no rhyme character twice, only basic-block characters generated; and the soft penalties."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.forms import distinct_end_lines
from engine.poem import check_formula
from engine.poet import Poet, SearchWeights
from engine.rules import (
    PhrasePenalties,
    in_basic_block,
    repeated_rhyme_ends,
    repeated_trigrams,
    rhyme_bans,
    trigram_bans,
)

pytestmark = pytest.mark.unit


def _allowed(B: int, V: int, rows: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    allowed = torch.ones(B, V, dtype=torch.bool)
    allowed[rows, ids] = False
    return allowed


def fresh_trigrams(hist, pos: int, V: int, forced_next: int | None = None) -> torch.Tensor:
    """(B, V) bool: the ids `trigram_bans` leaves allowed."""
    return _allowed(hist.size(0), V, *trigram_bans(hist, pos, forced_next))


def fresh_rhymes(hist, earlier: list[int], later_forced: list[int], V: int) -> torch.Tensor:
    """(B, V) bool: the ids `rhyme_bans` leaves allowed."""
    return _allowed(hist.size(0), V, *rhyme_bans(hist, earlier, later_forced))


KNOWN = "春风花月山水云天江南秋雨夜来人归何处长门"
UNKNOWN = "算法进阶龘靐鑫犇羴𠀀𪚥𬴂"  # the last three lie outside the basic block
heads = st.text(alphabet=KNOWN + UNKNOWN, min_size=1, max_size=8)
modes = st.sampled_from(
    [
        {"mode": "diverse"},
        {"mode": "beam", "beam_size": 4},
        {"mode": "sample", "seed": 7},
        {"mode": "beam", "beam_size": 4, "rhyme": False, "novelty": False},
    ]
)
positions = st.sampled_from(["head", "tail", 3])
common = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def free_chars(poem, at):
    return [c for line in poem.lines for i, c in enumerate(line) if i != at]


@common
@given(head=heads, width=st.sampled_from([5, 7]), options=modes, position=positions)
def test_no_poem_repeats_a_trigram_or_an_end_of_line_1_or_a_rhyming_line(
    poet, head, width, options, position
):
    poem = poet.acrostic(head, chars_per_line=width, position=position, **options)
    assert "formula" not in poem.params.get("relaxed", [])
    assert repeated_trigrams(poem.lines) == []
    at = {"head": 0, "tail": width - 1}.get(position, 2)
    if at != width - 1:  # 藏尾: the heads themselves end the rhyming lines
        assert repeated_rhyme_ends(poem.lines, distinct_end_lines(len(poem.lines))) == []


@common
@given(head=heads, width=st.sampled_from([5, 7]), options=modes, position=positions)
def test_only_basic_block_characters_are_generated(poet, head, width, options, position):
    poem = poet.acrostic(head, chars_per_line=width, position=position, **options)
    at = {"head": 0, "tail": width - 1}.get(position, 2)
    assert all(in_basic_block(c) for c in free_chars(poem, at))
    assert [line[at] for line in poem.lines] == list(poem.head)  # heads exactly as given


def test_the_separator_and_rare_blocks_are_never_generable(poet):
    generable = poet.generable
    assert not generable[poet.vocab.sep] and not generable[: poet.vocab.first_char_id].any()
    tokens = poet.vocab.tokens
    assert all(in_basic_block(tokens[i]) for i in generable.nonzero().squeeze(1).tolist())


def test_a_repeated_trigram_is_refused_within_a_line_and_across_lines():
    hist = torch.tensor([[10, 11, 12, 4, 10, 11]])  # 甲乙丙，甲乙 → 丙 would repeat 甲乙丙
    allowed = fresh_trigrams(hist, pos=2, V=20)
    assert not allowed[0, 12] and allowed[0, 13]
    # a 3-gram never spans a line break: at the start of a line nothing is refused
    assert fresh_trigrams(hist, pos=0, V=20).all()
    # looking ahead to a forced character: after 甲, with 丙 forced next, 乙 would make 甲乙丙
    hist = torch.tensor([[10, 11, 12, 4, 10]])
    allowed = fresh_trigrams(hist, pos=1, V=20, forced_next=12)
    assert not allowed[0, 11] and allowed[0, 13]


def test_a_rhyme_character_is_refused_once_used_or_forced_later():
    hist = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    allowed = fresh_rhymes(hist, earlier=[2], later_forced=[9], V=12)
    assert not allowed[0, 3] and not allowed[0, 9] and allowed[0, 7]


def test_line_1_and_the_rhyming_lines_never_share_an_end():
    assert distinct_end_lines(4) == [0, 1, 3] and distinct_end_lines(2) == [0, 1]
    lines = ["算来三十七年非", "法界从来总是非", "进退无门归去晚", "阶前明月照柴扉"]
    with pytest.raises(AssertionError, match="same character"):
        check_formula(lines, forced_rhymes=False, relaxed=[])
    check_formula(lines, forced_rhymes=True, relaxed=[])  # 藏尾: the heads end the lines
    lines[1] = "法界从来总是机"
    check_formula(lines, forced_rhymes=False, relaxed=[])


def test_phrase_penalties_apply_to_the_last_characters_of_the_line():
    index = {"不": 2, "知": 3, "何": 4, "处": 5, "是": 6}
    table = PhrasePenalties.from_phrases({"知何处": 2.0, "不知": 0.5, "无字": 9.0}, index)
    out = table.at(torch.tensor([[3, 4], [4, 4]]), pos=2, V=8)  # after 知何 / 何何
    assert out[0, 5] == -2.0 and out[0].sum() == -2.0 and out[1].sum() == 0
    out = table.at(torch.tensor([[2]]), pos=1, V=8)  # after 不, 知 costs 0.5
    assert out[0, 3] == -0.5 and out.sum() == -0.5
    assert table.at(torch.tensor([[2]]), pos=0, V=8) is None  # never across a line break
    merged = table.merged(PhrasePenalties.from_phrases(["不知"], index, nats=3.0))
    assert merged.at(torch.tensor([[2]]), pos=1, V=8)[0, 3] == -3.0  # the larger penalty


@pytest.fixture(scope="module")
def shipped_poet():
    return Poet.load()


def trigram_set(poem) -> set[str]:
    return {line[i : i + 3] for line in poem.lines for i in range(len(line) - 2)}


def test_recent_phrases_of_the_chat_are_avoided(shipped_poet):
    first = shipped_poet.acrostic("春夏秋冬")
    again = shipped_poet.acrostic("春夏秋冬", recent=sorted(trigram_set(first)))
    assert len(trigram_set(again) & trigram_set(first)) < len(trigram_set(first)) / 2


def test_measured_cliches_are_penalised(shipped_poet, monkeypatch):
    plain = shipped_poet.acrostic("春夏秋冬", search=SearchWeights(cliche_weight=0.0))
    planted = {"ngrams": {g: 3.0 for g in trigram_set(plain)}}
    monkeypatch.setitem(shipped_poet.loaded.meta, "cliches", planted)
    again = shipped_poet.acrostic("春夏秋冬")
    assert len(trigram_set(again) & trigram_set(plain)) < len(trigram_set(plain)) / 2
    # the weight scales them: at 0 the planted clichés change nothing
    same = shipped_poet.acrostic("春夏秋冬", search=SearchWeights(cliche_weight=0.0))
    assert same.lines == plain.lines
