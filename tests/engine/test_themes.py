"""Themes: validated like heads, recorded with the poem, the head by default, and used by the
model (the poem is conditioned on them)."""

import json

import pytest

from engine import HeadError
from engine.heads import ThemeError, normalize_theme
from tests.bot.cli.test_poem_and_training import run

pytestmark = pytest.mark.unit


def test_a_theme_is_normalised_like_a_head():
    assert normalize_theme(" 祝壽！") == "祝寿"
    assert normalize_theme("春 风") == "春风"


@pytest.mark.parametrize("theme", ["", "   ", "birthday", "生日😀", "长" * 13, "春\x00风"])
def test_a_bad_theme_is_refused_with_a_clear_message(theme):
    with pytest.raises(ThemeError) as info:
        normalize_theme(theme)
    assert "主题" in str(info.value) and "theme" in str(info.value)
    assert isinstance(info.value, HeadError)  # callers answer it like a bad head


def test_the_head_is_the_theme_unless_one_is_given(poet):
    assert poet.acrostic("春风").params["theme"] == "春风"
    assert poet.acrostic("春风", theme="秋雨夜").params["theme"] == "秋雨夜"
    with pytest.raises(ThemeError):
        poet.acrostic("春风", theme="rain")


def test_the_theme_conditions_the_model(poet):
    assert poet.vocab.themed
    text = "春风花月山，水云天江南。"
    assert poet.nats_per_char(text, "秋雨") != poet.nats_per_char(text, "江楼")
    assert poet.nats_per_char(text, "秋雨") != poet.nats_per_char(text)


@pytest.mark.slow
def test_the_cli_takes_a_theme(tiny_model_dir):
    res = run("poem", "春风", "--theme", "秋雨", "--json", model=tiny_model_dir)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["params"]["theme"] == "秋雨"
    bad = run("poem", "春风", "--theme", "rain", model=tiny_model_dir)
    assert bad.returncode == 2 and bad.stderr.startswith("error: 主题")
    assert "Traceback" not in bad.stderr
