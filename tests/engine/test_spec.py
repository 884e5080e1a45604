"""One PoemSpec from parse to storage: built once, validated once, stored as its asdict."""

from __future__ import annotations

import dataclasses

import pytest

from bot.chat.actors import Actor
from bot.chat.parsing import to_base36
from engine import HeadError
from engine.poet import DEFAULT_SEARCH
from engine.spec import PoemSpec
from tests.bot.test_core import requests

pytestmark = pytest.mark.unit

ALICE = Actor("telegram", "1", "-100", "Alice", "group")


def test_the_head_is_normalised_when_the_spec_is_built():
    spec = PoemSpec(" 春 風，")
    assert spec.head == "春风" and spec.at == 0
    assert PoemSpec("春风", 5, "tail").at == 4
    with pytest.raises(HeadError):
        PoemSpec("abc")
    with pytest.raises(ValueError):
        PoemSpec("春风", chars_per_line=6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.head = "秋"  # type: ignore[misc]


def test_a_spec_survives_its_stored_form():
    spec = PoemSpec("春风", 5, "tail", "sample", seed=7, recent=("春风来",), search=DEFAULT_SEARCH)
    stored = spec.asdict()
    assert stored["recent"] == ["春风来"] and stored["search"]["groups"] == DEFAULT_SEARCH.groups
    assert PoemSpec.from_dict({**stored, "from_a_newer_version": 1}) == dataclasses.replace(
        spec, search=stored["search"]
    )


def test_the_keyword_form_is_the_spec_form(poet):
    spec = PoemSpec("春风", chars_per_line=5, mode="sample", seed=3)
    assert poet.acrostic(spec) == poet.acrostic("春风", chars_per_line=5, mode="sample", seed=3)
    stored = PoemSpec.from_dict(dataclasses.replace(spec, search=DEFAULT_SEARCH).asdict())
    assert poet.acrostic(stored).text == poet.acrostic(spec).text


async def test_the_stored_options_are_the_spec_and_poem_rebuilds_it(core):
    reply = await core.command(ALICE, "/acrostic 春风 五言 繁")
    (row,) = requests(core)
    spec = PoemSpec.from_dict(row.options)
    assert row.options == spec.asdict() and spec.head == row.head == "春风"
    assert (spec.mode, spec.chars_per_line, spec.script) == ("diverse", 5, "traditional")
    assert row.options["search"] == dataclasses.asdict(DEFAULT_SEARCH)
    shown = await core.command(ALICE, f"/poem {to_base36(reply.poem_id)}")
    assert "结果与原诗一致：是" in shown.text
