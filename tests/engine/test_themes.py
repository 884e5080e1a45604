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


def _shared_rows(poet, n: int = 6, T: int = 32) -> torch.Tensor:
    """Rows that share prefixes as a beam's finals do: a common start, then branches."""
    torch.manual_seed(0)
    seqs = torch.randint(poet.vocab.first_char_id, len(poet.vocab), (n, T))
    seqs[:, :5] = seqs[0, :5]
    seqs[1, :20] = seqs[0, :20]
    seqs[3] = seqs[2]  # a duplicate
    return seqs


@pytest.mark.parametrize("precision", ["fp32", "int8", "int8-rows"])
def test_the_stepped_rerank_pass_scores_like_the_float_model(poet, precision):
    from engine.decode import drive
    from engine.rerank import plain_pass, sequence_log_probs
    from engine.stepper import Stepper

    seqs = _shared_rows(poet)
    prefix = [*poet.vocab.prefix(""), poet.vocab.form_id(7)]
    exact = sequence_log_probs(poet.model, prefix, seqs) / 32
    stepper = Stepper(poet.model, precision)
    stepped = drive(stepper, plain_pass(stepper, prefix, seqs)) / 32
    assert stepped.shape == exact.shape
    assert (stepped - exact).abs().max() < (1e-4 if precision == "fp32" else 0.05)  # nats/token
    assert stepped[2] == stepped[3]


def test_the_rerank_pass_feeds_each_shared_prefix_once_and_changes_nothing(poet):
    from engine.decode import answer, drive
    from engine.rerank import plain_pass

    seqs = _shared_rows(poet)
    prefix = [*poet.vocab.prefix(""), poet.vocab.form_id(7)]
    stepper = poet.batch_stepper  # rows independent of their batch: bit for bit
    fed = []
    search = plain_pass(stepper, prefix, seqs)
    request = next(search)
    try:
        while True:
            fed.append(request.tokens.numel())
            request = search.send(answer(stepper, request))
    except StopIteration as done:
        together = done.value
    alone = torch.cat([drive(stepper, plain_pass(stepper, prefix, row[None])) for row in seqs])
    assert torch.equal(together, alone)
    assert len(fed) == len(prefix) - 1 + 32
    # one row until the branches; the duplicate and the shared starts are fed once
    assert sum(fed) < 0.8 * 6 * 32 and max(fed) == 5


def test_the_rerank_pass_sees_only_the_best_finals(poet):
    from engine.decode import Decoded
    from engine.rerank import finalists, rerank

    ids = [poet.vocab.first_char_id + i for i in range(32)]
    finals = [Decoded(ids, score=-float(i), relaxed=0, start=0, penalty=0.0) for i in range(10)]
    finals[0] = Decoded(ids, score=0.0, relaxed=0, start=0, penalty=-320.0)  # −10 per token
    kept = finalists(finals, top=3)
    assert {c.score for c in kept} == {-1.0, -2.0, -3.0}
    assert len(finalists(finals, None)) == 10
    plain = torch.tensor([-32.0, -64.0, -192.0])  # per token: −1, −2, −6
    ranked = rerank(kept, plain, 0.8)  # themed − 0.8·plain: −0.2, −0.4, 1.8
    assert [r.decoded.score for r in ranked] == [-3.0, -1.0, -2.0]
    assert [r.plain for r in ranked] == [-6.0, -1.0, -2.0]
    assert [r.decoded.score for r in rerank(kept, None, 0.8)] == [-1.0, -2.0, -3.0]
