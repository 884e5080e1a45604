"""The planned training framing: each line's keyword fed right before it as context (never a
target), keyword dropout, the keyword marker appended so the ids of v2c never move, and the
corpus lines' own keywords."""

import pytest
import torch

from engine.model import CharLSTM, ModelConfig
from engine.poet import SHIPPED_MODEL
from engine.vocab import KW, SEP, Vocab
from train.dataset import PoemBuckets, encode_planned, model_inputs, poem_nll
from train.keywords import LineKeywords, words
from train.warmstart import grow

pytestmark = pytest.mark.unit

POEM = "春风花月山，水云天江南。秋雨夜来人，归何处长门。"
PLAN = ("春风", "", "夜来", "长门")


def _vocab() -> Vocab:
    return Vocab.build([POEM, "江楼送友"], min_count=1).with_tokens(SEP, KW)


def test_keywords_are_fed_right_before_their_lines_as_context():
    vocab = _vocab()
    ids = encode_planned(vocab, POEM, "江楼", PLAN)
    tokens = [("~" if i < 0 else "") + vocab.tokens[-i - 1 if i < 0 else i] for i in ids]
    assert "".join(tokens) == (
        "江楼<sep><5>~春~风~<kw>春风花月山，水云天江南。~夜~来~<kw>秋雨夜来人，"
        "~长~门~<kw>归何处长门。<eos>"
    )
    plain, is_target = model_inputs(torch.tensor([ids]))
    assert int((~is_target).sum()) == 3 * 3 and int(plain.min()) >= 0


def test_the_loss_leaves_the_keywords_out():
    torch.manual_seed(0)
    vocab = _vocab()
    model = CharLSTM(ModelConfig(len(vocab), 8, 16, cutoffs=())).eval()
    planned = torch.tensor([encode_planned(vocab, POEM, "江楼", PLAN)])
    nll, n = poem_nll(model, planned)
    assert n == len(POEM) + 1  # the poem's characters, marks and <eos>, as without a plan
    ids, is_target = model_inputs(planned)
    h, _ = model(ids[:, :-1])
    per_token = torch.nn.functional.cross_entropy(model.out(h)[0], ids[0, 1:], reduction="none")
    keep = is_target[0, 1:].clone()
    keep[:3] = False  # the theme prefix and the form token are never targets either
    assert torch.allclose(nll, per_token[keep].sum())
    assert PoemBuckets([("江楼", POEM, PLAN)], vocab).targets == n


def test_keyword_dropout_trains_plain_poems_and_lines_too():
    vocab = _vocab()
    poems = [f"{POEM[:-1]}{chr(0x4E00 + i)}。" for i in range(2000)]
    plain = [vocab.encode_poem(p, "") for p in poems]
    framed = [encode_planned(vocab, p, "", PLAN, dropout=0.25) for p in poems]
    whole = sum(f == p for f, p in zip(framed, plain, strict=True)) / len(poems)
    assert 0.2 < whole < 0.3  # about a quarter without any keyword
    partial = [f for f, p in zip(framed, plain, strict=True) if f != p]
    markers = [sum(t == -vocab.kw - 1 for t in f) for f in partial]
    assert set(markers) <= {1, 2, 3} and 2.0 < sum(markers) / len(markers) < 2.6
    assert encode_planned(vocab, POEM, "", ("",) * 4) == vocab.encode_poem(POEM, "")


def test_the_keyword_marker_is_appended_so_the_shipped_ids_never_move():
    from engine.checkpoint import load_model_dir

    shipped = load_model_dir(SHIPPED_MODEL)
    model, vocab = grow(shipped.model, shipped.vocab, SEP, KW)
    assert vocab.tokens[: len(shipped.vocab)] == shipped.vocab.tokens
    assert vocab.tokens[len(shipped.vocab) :] == [KW] and vocab.kw == len(shipped.vocab)
    old, new = shipped.model.state_dict(), model.state_dict()
    for name, value in old.items():  # every weight of every old id is kept
        assert torch.equal(new[name][: value.shape[0]], value), name


def test_a_lines_keyword_is_its_most_specific_usable_noun():
    assert "高楼" in words("明月照高楼") and "谁知" not in words("谁知归钓子陵台")
    filler = [
        f"{chr(0x4E00 + i)}{chr(0x4E80 + i)}，{chr(0x4F00 + i)}{chr(0x4F80 + i)}。"
        for i in range(12000)
    ]
    poems = ["白云生远岫，高楼对夕阳。"] * 25 + ["高楼春色好，高楼万里情。"] * 10 + filler
    index = LineKeywords.build(poems)
    assert index.counts["高楼"] == 45 and index.counts["白云"] == 25
    assert index.keyword("白云望高楼") == "白云"  # the rarer of two usable nouns
    assert index.keyword("远岫生白云") == "白云"  # 远岫: too rare to be vocabulary
    assert index.keyword("不知何处去") == ""


def test_a_keyword_run_warm_starts_and_trains(corpus_dir, tiny_model_dir, tmp_path):
    """The recipe of `make train-plan`, two steps on the fixture corpus: the warm start gains
    <kw> and trains with every line's keyword (built from the corpus on first use)."""
    from train.loop import TrainOptions, train

    opts = TrainOptions(
        corpus=corpus_dir, out=tmp_path / "plan", init_from=tiny_model_dir, keywords=True,
        tokens_per_batch=512, dry_run=True, progress=False,
    )  # fmt: skip
    summary = train(opts)
    assert summary["dry_run"] and summary["steps"] == 2 and summary["val_nats_per_char"] > 0
    assert (corpus_dir / "train.keywords.txt").exists()
