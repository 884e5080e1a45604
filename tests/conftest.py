"""Shared fixtures: a tiny corpus tarball, its built corpus, and a small trained model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.fixtures import build_tarball

# Tiny models gain nothing from threads, and oversubscribed cores make them crawl.
torch.set_num_threads(1)
CATEGORIES = ("unit", "integration", "adapters")


def pytest_collection_modifyitems(items):
    """The tests mirror the source (tests/engine, tests/train, tests/bot); what kind of test each
    is lives in a marker: integration or adapters where a module says so, else unit."""
    for item in items:
        if not any(item.get_closest_marker(name) for name in CATEGORIES):
            item.add_marker(pytest.mark.unit)


def pytest_ignore_collect(collection_path, config):
    """tests/qq needs nonebug's pytest plugin, which the other tests run without (pyproject's
    addopts say -p no:nonebug): `make test` runs it on its own, `pytest -p nonebug tests/qq`."""
    qq = Path(__file__).parent / "qq"
    if collection_path == qq or qq in collection_path.parents:
        return not config.pluginmanager.has_plugin("nonebug")
    return None


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
    summary = train(opts)
    # a servable directory has every part (engine.parts): measure a small cliché table too
    from train.cliches import measure
    from train.corpus import read_split

    measure(out, read_split(corpus_dir, "val"), heads=30, rounds=1, theme_rounds=0)
    from engine.checkpoint import load_model_dir, resave

    # and plan data whose lexicon knows nothing: the planner adds no keyword to a tiny poem
    resave(load_model_dir(out), {}, plan_data={"triggers": {}, "categories": {}})
    return summary, out, opts


@pytest.fixture(scope="session")
def tiny_model_dir(trained) -> Path:
    return trained[1]


@pytest.fixture(scope="session")
def poet(tiny_model_dir):
    from engine import Poet

    return Poet.load(tiny_model_dir)


# --- the bot ------------------------------------------------------------------------------------
POSTGRES_ENV = "CANGTOU_TEST_POSTGRES_URL"


def _fresh_postgres_database(server_url: str, name: str) -> str:
    from sqlalchemy import create_engine, text

    from bot.store.session import normalize_url

    admin = create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base, _, _ = normalize_url(server_url).rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    """A fresh, empty database: a SQLite file, or a new database on the test PostgreSQL."""
    import os
    import uuid

    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/cangtou.db"
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(f"{POSTGRES_ENV} is not set (tests/with_postgres.sh sets it)")
    return _fresh_postgres_database(server, f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/cangtou.db"


def bot_settings(database_url: str, **overrides):
    from bot.base.settings import Settings

    values = {
        "database_url": database_url,
        "admins": ["telegram:99", "discord:99"],
        "console_is_admin": False,
    }
    values.update(overrides)
    # inline debouncing has its own tests (tests/bot/test_inline.py): elsewhere it only waits
    values["limits"] = {"inline_debounce_s": 0, **values.get("limits", {})}
    return Settings(_env_file=None, **values)


@pytest.fixture
async def core(sqlite_url, poet):
    from bot.runtime.app import build_core
    from bot.serving.poets import PoetHolder

    core = build_core(bot_settings(sqlite_url), PoetHolder(poet=poet))
    yield core
    await core.close()
    core.db.dispose()
