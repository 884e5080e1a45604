"""Each chat's recent phrases: the search avoids the 3-grams of the chat's last poems, and the
stored request keeps them, so `/poem <id>` still reproduces the poem."""

import pytest

from bot.chat.core import Actor
from bot.chat.parsing import to_base36
from tests.bot.test_core import requests

pytestmark = pytest.mark.unit

ALICE = Actor("telegram", "1", "-100", "Alice", "group")
CAROL = Actor("telegram", "3", "-200", "Carol", "group")


def trigrams(text: str) -> set[str]:
    lines = text.replace("。", "，").split("，")
    return {line[i : i + 3] for line in lines for i in range(len(line) - 2)}


async def test_a_chat_does_not_get_the_same_phrases_twice(core):
    first = await core.command(ALICE, "/acrostic 春风秋雨")
    second = await core.command(ALICE, "/acrostic 春风秋雨")
    elsewhere = await core.command(CAROL, "/acrostic 春风秋雨")
    rows = requests(core)
    assert rows[0].options["mode"] == "diverse" and rows[0].options["recent"] == []
    assert set(rows[1].options["recent"]) == trigrams(rows[0].poem)
    assert rows[2].options["recent"] == []  # another chat's poems are not its memory
    assert len(trigrams(rows[1].poem) & trigrams(rows[0].poem)) < len(trigrams(rows[0].poem)) / 2
    assert rows[2].poem == rows[0].poem  # the same head with no memory: the same poem
    shown = await core.command(ALICE, f"/poem #{to_base36(second.poem_id)}")
    assert "结果与原诗一致：是" in shown.text
    assert first.poem_id and elsewhere.poem_id
