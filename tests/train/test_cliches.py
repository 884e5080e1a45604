"""The cliché finder: thresholds on share and ratio, and the CLI's defaults are the module's."""

import math

import pytest

from bot.cli import quality
from train import cliches
from train.cliches import title_heads, title_pool

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


def test_an_opening_is_measured_among_the_lines_its_character_starts():
    # the model opens 4 of its 6 秋 lines with 秋风萧; real poems, 20 of 100 秋 lines
    generated = [["秋风萧瑟夜", "春山一片云"]] * 4 + [["秋月明如水", "春水碧于天"]] * 2
    generated += [[f"{chr(0x5000 + i)}来{chr(0x5100 + i)}去{chr(0x5200 + i)}"] for i in range(500)]
    real = [["秋风萧瑟天"]] * 20 + [["秋" + chr(0x5300 + i) * 4] for i in range(80)]
    real += [["春山" + chr(0x5400 + i) * 3] for i in range(50)]
    found = cliches.find_openings(generated, real)
    assert math.isclose(found["秋风萧"], round(math.log((4 / 6) / (20 / 100)), 3))
    assert found["春山一"] == cliches.MAX_NATS  # 4 of 6 春 lines; real poems never open so
    assert "秋月明" not in found  # a third of the 秋 lines, but only 2 of them
    assert not any(g[1] == "来" for g in found)  # each opening once: never 3 lines
    # overall, 秋风萧 is in under 1% of the model's poems: the share finder misses it
    assert "秋风萧" not in cliches.find_cliches(generated, real)


def test_title_heads_are_clean_short_titles_and_never_the_excluded_heads():
    titles = ["秋夜", "秋夜", "山居诗其六", "句", "春江花月夜", "立秋", "西湖", "A计划", "𬴂山",
              "烟雨江南"]  # fmt: skip
    pool = title_pool(titles, exclude={"立秋"})
    # cleaned as themes; no 立秋, nor 西湖 (a public head) nor 烟雨江南 (a held-out one)
    assert pool == sorted(["山居诗", "秋夜", "计划"])
    assert sorted(title_heads(pool, n=10, seed=1)) == pool
    assert title_heads(pool, n=2, seed=1) == title_heads(pool, n=2, seed=1)
    assert len(set(title_heads(pool, n=2, seed=1))) == 2


def test_the_cli_defaults_are_the_finders():
    assert quality.THEME_ROUNDS == cliches.THEME_ROUNDS
    assert (quality.HEADS, quality.ROUNDS) == (cliches.HEADS, cliches.ROUNDS)
    assert (quality.MIN_SHARE, quality.MIN_RATIO) == (cliches.MIN_SHARE, cliches.MIN_RATIO)


def test_measurement_heads_never_draw_a_public_or_held_out_head(monkeypatch):
    from train import heldout

    draws = iter(["烟雨江南", "算法进阶", "山月松云"])  # held out, public, free
    monkeypatch.setattr(cliches.random.Random, "sample", lambda self, pool, k: list(next(draws)))
    heads = cliches.measurement_heads(["烟雨江南算法进阶山月松云。"], 1)
    assert heldout.is_excluded("烟雨江南") and heldout.is_excluded("算法进阶")
    assert heads == ["山月松云"]


def test_the_shipped_held_out_hashes_match_docs():
    """engine/shipped/heldout.sha256 is what an installed package checks against: it must list
    every held-out head of docs/eval (regenerate with `python -m train.heldout`)."""
    from train import heldout

    shipped = [line for line in heldout.HASHES.read_text().splitlines() if line[:1] != "#"]
    assert shipped == heldout.held_out_digests() and len(shipped) >= 60
