"""Head normalisation and validation."""

import re

import pytest

from engine import HeadError, normalize_head
from engine.heads import Fallbacks
from engine.vocab import SPECIALS, Vocab

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("算法进阶", "算法进阶"),
        (" 算 法，进阶！ ", "算法进阶"),
        ("算法進階", "算法进阶"),
        ("「春風」", "春风"),
        ("\u3000春\t", "春"),
        ("一二三四五六七八九十百千", "一二三四五六七八九十百千"),
    ],
)
def test_valid_heads_are_normalised(raw, expected):
    assert normalize_head(raw) == expected


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("abc", "a、b、c"),
        ("算法AI", "A、I"),
        ("Ａ算", "A"),  # full-width Latin is named in its half-width form
        ("春😀", "😀"),
        ("123", "1、2、3"),
    ],
)
def test_non_han_characters_are_named(raw, named):
    with pytest.raises(HeadError) as err:
        normalize_head(raw)
    assert named in str(err.value)


@pytest.mark.parametrize("raw", ["", "   ", "，。！", None])
def test_empty_heads_are_rejected(raw):
    with pytest.raises(HeadError, match="empty"):
        normalize_head(raw)


def test_too_long_heads_are_rejected_with_the_count():
    with pytest.raises(HeadError, match="100 characters"):
        normalize_head("春" * 100)
    assert issubclass(HeadError, ValueError)


def test_fallbacks_prefer_variant_then_pinyin_then_unk():
    vocab = Vocab([*SPECIALS, "风", "达", "大"])
    fb = Fallbacks(vocab)
    assert fb.resolve("风") == ("风", "exact")
    assert fb.resolve("風") == ("风", "variant")
    assert fb.resolve("龘") == ("达", "pinyin")  # dá
    assert fb.resolve("𪚥") == ("<unk>", "unk")


@pytest.mark.parametrize(
    ("cp", "valid"),
    [(0x4E00, True), (0x9FFF, True), (0x3400, True), (0x4DBF, True), (0x20000, True),
     (0x2A6DF, True), (0xF900, True), (0xFA6E, False), (0xFADA, False), (0x2F800, True),
     (0x2FA1E, False), (0x2FFFE, False), (0x2FFFF, False)],
)  # fmt: skip
def test_only_assigned_ideographs_are_heads(cp, valid):
    """Block edges whose status is the same in Python 3.11's Unicode (14.0) and later ones:
    compatibility ideographs are never added again, noncharacters never assigned."""
    from engine.heads import HeadError, normalize_head

    if valid:
        assert len(normalize_head(chr(cp))) == 1
    else:
        with pytest.raises(HeadError, match=re.escape(f"U+{cp:04X}")):
            normalize_head("春" + chr(cp))
