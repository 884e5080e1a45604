"""Themes: validated like heads, recorded with the poem, the head by default, and used by the
model (the poem is conditioned on them)."""

import json

import pytest
import torch

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


def test_the_int8_rerank_pass_scores_like_the_float_model(poet):
    from engine.rerank import int8_scorer, sequence_log_probs

    torch.manual_seed(0)
    seqs = torch.randint(poet.vocab.first_char_id, len(poet.vocab), (6, 32))
    prefix = [*poet.vocab.prefix(""), poet.vocab.form_id(7)]
    exact = sequence_log_probs(poet.model, prefix, seqs) / 32
    scorer = int8_scorer(poet.model)
    for output in (None, poet.batch_stepper):  # the float output layer, or int8 rows
        fast = sequence_log_probs(scorer, prefix, seqs, output) / 32
        assert fast.shape == exact.shape
        assert (fast - exact).abs().max() < 0.05  # nats per token


def test_the_rerank_pass_sees_only_the_best_finals(poet):
    from engine.decode import Decoded
    from engine.rerank import rerank

    ids = [poet.vocab.first_char_id + i for i in range(32)]
    finals = [Decoded(ids, score=-float(i), relaxed=0, start=0, penalty=0.0) for i in range(10)]
    finals[0] = Decoded(ids, score=0.0, relaxed=0, start=0, penalty=-320.0)  # −10 per token
    prefix = [*poet.vocab.prefix(""), poet.vocab.form_id(7)]
    kept = rerank(poet.model, finals, prefix, 0.8, top=3)
    assert len(kept) == 3
    assert {r.decoded.score for r in kept} == {-1.0, -2.0, -3.0}
    assert len(rerank(poet.model, finals, prefix, 0.8)) == 10
