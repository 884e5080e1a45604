"""Shared fixtures: a tiny corpus tarball, its built corpus, and a small trained model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.fixtures import build_tarball

# Tiny models gain nothing from threads, and oversubscribed cores make them crawl.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tarball(tmp_path_factory) -> Path:
    return build_tarball(tmp_path_factory.mktemp("npm") / "chinese-poetry-2.0.1.tgz")


@pytest.fixture(scope="session")
def corpus_dir(tarball, tmp_path_factory) -> Path:
    from train.corpus import build_corpus

    out = tmp_path_factory.mktemp("corpus")
    build_corpus(tarball, out)
    return out


@pytest.fixture(scope="session")
def trained(corpus_dir, tmp_path_factory):
    """A tiny model trained for a few seconds: (summary, model dir, options)."""
    from train.loop import TrainOptions, train

    out = tmp_path_factory.mktemp("models") / "tiny"
    opts = TrainOptions(
        corpus=corpus_dir,
        out=out,
        embed_dim=16,
        hidden_dim=32,
        dropout=0.0,
        cutoffs=(10,),
        lr=1e-2,
        tokens_per_batch=512,
        epochs=4,
        eval_minutes=0.02,
        min_count=1,
        progress=False,
    )
    return train(opts), out, opts


@pytest.fixture(scope="session")
def tiny_model_dir(trained) -> Path:
    return trained[1]


@pytest.fixture(scope="session")
def poet(tiny_model_dir):
    from engine import Poet

    return Poet.load(tiny_model_dir)
