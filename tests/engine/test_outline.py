"""The planner: the theme before the head's characters, the user's keywords first, a redraw
that differs, keywords that leave other lines' heads alone."""

from __future__ import annotations

import pytest

from engine.outline import Outline, Planner

pytestmark = pytest.mark.unit

DATA = {
    "triggers": {"生日": ["birthday"], "金榜题名": ["exam"], "送别": ["parting"]},
    "categories": {
        "birthday": ["南山", "松鹤", "椿萱", "蟠桃", "寿酒", "仙鹤", "长生", "青松"],
        "exam": ["登科", "杏园", "雁塔", "长安", "春风", "折桂"],
        "parting": ["长亭", "杨柳", "阳关", "孤帆"],
    },
    "title_words": {"送别": ["渡口", "离亭"]},
    "neighbours": {"杨柳": [["春风", 0.3], ["长亭", 0.2]]},
    "char_words": {"咖": [], "啡": [], "茶": ["新茶", "茶烟"]},
    "counts": {"杨柳": 900, "春风": 1000, "长亭": 300},
}
KNOWN = set(
    "南山松鹤椿萱蟠桃寿酒仙长生青登科杏园雁塔安春风折桂亭杨柳阳关孤帆渡口离新茶烟王小明金榜题名"
)


@pytest.fixture
def planner():
    return Planner(DATA, KNOWN)


def test_a_name_with_an_occasion_is_planned_from_the_occasion(planner):
    outline = planner.outline("王小明", 7, theme="生日")
    assert set(outline.keywords) <= set(DATA["categories"]["birthday"])
    assert outline.source == "planner" and all(outline.keywords)
    assert outline.shown() == " · ".join(outline.keywords)


def test_a_head_phrase_is_planned_from_its_meaning(planner):
    outline = planner.outline("金榜题名", 7)
    assert outline.keywords[0] == "登科" and set(outline.keywords) <= set(
        DATA["categories"]["exam"]
    )


def test_the_users_keywords_come_first(planner):
    outline = planner.outline("金榜题名", 7, keywords=("杨柳", "", "孤帆"))
    assert outline.keywords[0] == "杨柳" and outline.keywords[2] == "孤帆"
    assert outline.keywords[1] and outline.keywords[3] and outline.source == "user+planner"


def test_a_redraw_differs_and_is_reproducible(planner):
    first = planner.outline("王小明", 7, theme="生日")
    draws = {planner.outline("王小明", 7, theme="生日", seed=s).keywords for s in range(1, 8)}
    assert len(draws) > 1 and planner.outline("王小明", 7, "生日", seed=3) == planner.outline(
        "王小明", 7, "生日", seed=3
    )
    assert first == planner.outline("王小明", 7, theme="生日")


def test_keywords_avoid_other_lines_heads_and_repeat_no_character(planner):
    outline = planner.outline("长安", 7, theme="金榜题名")  # 长安 itself holds both heads
    assert "长安" not in outline.keywords
    chars = [ch for word in outline.keywords for ch in word]
    assert len(chars) == len(set(chars))


def test_a_word_no_source_knows_gives_no_keyword_rather_than_noise(planner):
    assert planner.outline("咖啡", 5) == Outline(("", ""), "planner")


def test_a_head_the_lexicon_does_not_know_gets_its_own_words(planner):
    """No statistical neighbour (panel 2026-12-06: they cost relevance), but the head's own
    words open their lines: 竹林听雨 → 竹林 in line 1, 听雨 in line 3."""
    assert "杨柳" in DATA["counts"]  # statistics know it, the lexicon does not
    assert planner.outline("杨柳", 7) == Outline(("杨柳", ""), "planner")
    assert planner.outline("杨柳", 7, keywords=("春风",)) == Outline(("春风", ""), "user")
    assert planner.outline("杨柳", 7, theme="送别").keywords[0]  # the theme grounds it
    wide = Planner(DATA, KNOWN | set("竹林听雨细水长流见字如面"))
    assert wide.outline("竹林听雨", 7) == Outline(("竹林", "", "听雨", ""), "planner")
    assert wide.outline("细水长流", 7).keywords == ("细水", "", "长流", "")  # an idiom's halves
    assert wide.outline("见字如面", 7).keywords == ("见字", "", "", "")  # 如: a function word
    assert wide.outline("竹林听雨", 7, keywords=("", "", "细雨")) == Outline(
        ("竹林", "", "细雨", ""), "user+planner")  # fmt: skip


def test_a_named_head_with_an_unknown_theme_gets_no_words_of_the_name(planner):
    """With a theme the head is a name (李思雨 主题:…), not what the poem is about."""
    wide = Planner(DATA, KNOWN | set("竹林听雨"))
    assert wide.outline("竹林听雨", 7, theme="咖啡") == Outline(("", "", "", ""), "planner")


def test_a_later_users_keyword_is_never_planned_for_an_earlier_line(planner):
    """Probe 2026-12-07: ('', '长安') planned 长安 for line 1 too."""
    outline = planner.outline("金榜题名", 7, keywords=("", "长安"))
    assert outline.keywords[1] == "长安" and outline.keywords.count("长安") == 1
    assert not set(outline.keywords[0]) & set("长安")


def test_a_theme_of_four_unknown_characters_is_read_by_its_halves(planner):
    """主题:生日快乐 is one word to the segmenter and no trigger: its halves are (生日)."""
    outline = planner.outline("王小明", 7, theme="生日快乐")
    assert all(outline.keywords) and set(outline.keywords) <= set(DATA["categories"]["birthday"])


def test_a_repeated_head_plans_each_of_its_words_once():
    planner = Planner({"triggers": {}, "categories": {}}, set("竹林听雨"))
    outline = planner.outline("竹林听雨竹林听雨", 7)
    assert [k for k in outline.keywords if k] == ["竹林", "听雨"]
    mine = planner.outline("竹林听雨", 7, keywords=("", "竹林"))
    assert mine.keywords[:3] == ("", "竹林", "听雨")
