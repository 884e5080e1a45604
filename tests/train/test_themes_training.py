"""The themed training framing: theme, <sep>, then the poem; theme dropout; loss on poem tokens."""

import pytest
import torch

from engine.model import CharLSTM, ModelConfig
from engine.vocab import FIVE, SEP, SEVEN, Vocab
from train.dataset import PoemBuckets, drops_theme, poem_nll
from train.warmstart import add_separator

pytestmark = pytest.mark.unit

POEM = "春风花月山，水云天江南。秋雨夜来人，归何处长门。"


def _vocab(themed: bool = True) -> Vocab:
    vocab = Vocab.build([POEM, "江楼送友"], min_count=1)
    return vocab.with_separator() if themed else vocab


def test_the_framing_is_theme_then_separator_then_the_poem():
    vocab = _vocab()
    ids = vocab.encode_poem(POEM, "江楼")
    assert [vocab.tokens[i] for i in ids[:4]] == ["江", "楼", SEP, FIVE]
    assert ids[-1] == vocab.eos and len(ids) == 2 + 1 + 1 + len(POEM) + 1
    # no theme: the separator still opens the poem; unknown theme characters are left out
    assert [vocab.tokens[i] for i in vocab.encode_poem(POEM)[:2]] == [SEP, FIVE]
    assert vocab.encode_poem(POEM, "江鹤") == vocab.encode_poem(POEM, "江")
    # a vocabulary from before themes keeps the old framing
    old = _vocab(themed=False)
    assert old.encode_poem(POEM, "江楼")[0] == old.form_id(5)


def test_the_separator_is_appended_so_old_ids_never_move():
    old = _vocab(themed=False)
    new = old.with_separator()
    assert new.tokens[: len(old)] == old.tokens and new.tokens[-1] == SEP
    assert new.sep == len(old) and new.with_separator() is new


def test_about_a_quarter_of_the_poems_train_without_their_theme():
    poems = [f"{POEM}{i}" for i in range(4000)]
    dropped = sum(drops_theme(p, 0.25, seed=0) for p in poems) / len(poems)
    assert 0.22 < dropped < 0.28
    assert [drops_theme(p, 0.25, 0) for p in poems[:50]] == [
        drops_theme(p, 0.25, 0) for p in poems[:50]
    ]
    assert not any(drops_theme(p, 0.0, 0) for p in poems)
    vocab = _vocab()
    buckets = PoemBuckets([("江楼", POEM)] * 3 + [("", POEM)], vocab)
    starts = sorted(start for _, start in buckets.buckets)
    assert starts == [1, 3]  # <sep> alone, and 江楼<sep>; never padded together


def test_the_loss_is_on_poem_tokens_only():
    torch.manual_seed(0)
    vocab = _vocab()
    model = CharLSTM(ModelConfig(len(vocab), 8, 16, cutoffs=())).eval()
    themed = torch.tensor([vocab.encode_poem(POEM, "江楼")])
    nll, n = poem_nll(model, themed)
    assert n == len(POEM) + 1  # every poem character and mark, and <eos>; not the prefix
    h, _ = model(themed[:, :-1])
    per_token = torch.nn.functional.cross_entropy(model.out(h)[0], themed[0, 1:], reduction="none")
    assert torch.allclose(nll, per_token[3:].sum())  # targets after the form token at index 3
    buckets = PoemBuckets([("江楼", POEM)], vocab)
    assert buckets.targets == n


def test_a_warm_start_gains_the_separator_and_keeps_every_weight():
    torch.manual_seed(0)
    vocab = _vocab(themed=False)
    model = CharLSTM(ModelConfig(len(vocab), 8, 16, cutoffs=(6,)))
    grown, new_vocab = add_separator(model, vocab)
    assert new_vocab.sep == len(vocab) and grown.cfg.vocab_size == len(vocab) + 1
    old, new = model.state_dict(), grown.state_dict()
    for name, value in old.items():
        assert torch.equal(new[name][: value.size(0)], value)
    assert add_separator(grown, new_vocab)[0] is grown
    assert SEVEN in new_vocab
