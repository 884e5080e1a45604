"""The QQ plugin's tests run with nonebug's pytest plugin, in a run of their own (`make test`
runs `pytest -p nonebug tests/qq` after the rest, which leaves nonebug out): nonebug initialises
NoneBot once for the whole session. The driver's lifespan is not started; each test attaches a
runtime over a fresh SQLite database and the tiny model, as `acrostic run` does."""

from __future__ import annotations

import pytest
from nonebug import NONEBOT_INIT_KWARGS, NONEBOT_START_LIFESPAN

from tests.conftest import bot_settings

pytestmark = pytest.mark.adapters


def pytest_configure(config: pytest.Config) -> None:
    config.stash[NONEBOT_INIT_KWARGS] = {"driver": "~fastapi", "command_start": {"/"}}
    config.stash[NONEBOT_START_LIFESPAN] = False


@pytest.fixture(scope="session", autouse=True)
def after_nonebot_init(after_nonebot_init: None):
    import nonebot
    from nonebot.adapters.onebot.v11 import Adapter

    from bot.adapters.onebot_server import make_findable

    nonebot.get_driver().register_adapter(Adapter)
    make_findable()
    nonebot.load_plugin("nonebot_plugin_cangtou")


@pytest.fixture
async def runtime(sqlite_url, poet):
    """The plugin serving a runtime over a fresh database (stand-alone mode's `attach`)."""
    from nonebot_plugin_cangtou.service import SERVICE

    from bot.runtime.app import build_core, build_runtime
    from bot.serving.poets import PoetHolder

    settings = bot_settings(
        sqlite_url, admins=["qq:99"], limits={"user_burst": 3, "user_per_minute": 3}
    )
    runtime = build_runtime(settings, build_core(settings, PoetHolder(poet=poet)))
    SERVICE.hosted, SERVICE.failed = False, None
    SERVICE.attach(runtime)
    yield runtime
    SERVICE.runtime, SERVICE.hosted = None, False
    await runtime.core.close()
    runtime.core.db.dispose()
