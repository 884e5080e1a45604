"""The cliché finder: thresholds on share and ratio, and the CLI's defaults are the module's."""

import math

import pytest

from bot.cli import quality
from train import cliches

pytestmark = pytest.mark.unit


def _poems(n: int, with_gram: int, gram: str = "不知何") -> list[list[str]]:
    """n two-line poems, `with_gram` of them containing `gram`; the rest share nothing."""
    out = []
    for i in range(n):
        filler = chr(0x5000 + 7 * i) + chr(0x5001 + 7 * i) + chr(0x5002 + 7 * i)
        out.append([(gram if i < with_gram else filler) + "处是", chr(0x6000 + i) * 2 + "山"])
    return out


def test_a_cliche_needs_both_its_share_and_its_ratio():
    generated = _poems(1000, 8)  # in 0.8% of the model's poems
    real = _poems(1000, 3)  # in 0.3% of real poems: 2.7× as often in the model's
    found = cliches.find_cliches(generated, real)  # defaults: 0.5% and 2×
    assert math.isclose(found["不知何"], round(math.log(8 / 3), 3))
    assert "不知何" not in cliches.find_cliches(generated, real, min_share=0.01, min_ratio=2.0)
    assert "不知何" not in cliches.find_cliches(generated, real, min_share=0.005, min_ratio=3.0)


def test_the_penalty_is_capped():
    found = cliches.find_cliches(_poems(100, 50), _poems(10_000, 0))
    assert found["不知何"] == cliches.MAX_NATS


def test_the_cli_defaults_are_the_finders():
    assert (quality.HEADS, quality.ROUNDS) == (cliches.HEADS, cliches.ROUNDS)
    assert (quality.MIN_SHARE, quality.MIN_RATIO) == (cliches.MIN_SHARE, cliches.MIN_RATIO)
