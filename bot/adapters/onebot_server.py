"""QQ in stand-alone mode (`acrostic run` with CANGTOU_ONEBOT__ACCESS_TOKEN): NoneBot2 with its
OneBot v11 adapter and the nonebot_plugin_cangtou plugin, served by uvicorn inside the running
event loop (nonebot.run() would start a loop of its own). NapCat, LLOneBot or Lagrange connect
to ws://HOST:PORT/onebot/v11/ws with the access token. nonebot.init is process-global: one
OneBot server a process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass

from bot.base.settings import Settings

log = logging.getLogger(__name__)
PLUGIN = "nonebot_plugin_cangtou"
STARTUP_TIMEOUT_S = 30.0


def make_findable(name: str = PLUGIN) -> None:
    """NoneBot loads a plugin through importlib's PathFinder, which does not see the package
    mapping of an editable install (pip install -e, as `make` does): there, give it a path entry
    holding a link to the plugin's folder. An ordinary install needs nothing."""
    import importlib.util
    import sys
    import tempfile
    from importlib.machinery import PathFinder
    from pathlib import Path

    if PathFinder.find_spec(name) is not None:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise CannotListen(f'{name} is not installed: pip install "cangtou[qq]"')
    entry = Path(tempfile.mkdtemp(prefix="cangtou-plugin-"))
    (entry / name).symlink_to(Path(spec.submodule_search_locations[0]), target_is_directory=True)
    sys.path.append(str(entry))


class CannotListen(Exception):
    """The OneBot server could not start (the port is taken, the extra is not installed)."""


@dataclass
class OneBotServer:
    url: str
    server: object  # uvicorn.Server
    task: asyncio.Task

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 10)


def _embedded_server(config):
    import uvicorn

    class EmbeddedServer(uvicorn.Server):
        """uvicorn without its own signal handling: `acrostic run` owns SIGINT and SIGTERM."""

        @contextlib.contextmanager
        def capture_signals(self):
            yield

    return EmbeddedServer(config)


async def start(settings: Settings, runtime, stop: asyncio.Event) -> OneBotServer:
    """Start NoneBot2 (its driver's startup hooks run through the ASGI lifespan) and the
    reverse-WebSocket endpoint; the plugin serves `runtime`'s core."""
    try:
        import nonebot
        import uvicorn
        from nonebot.adapters.onebot.v11 import Adapter
    except ImportError as e:
        raise CannotListen(f'QQ needs the qq extra: pip install "cangtou[qq]" ({e.name})') from e
    onebot = settings.onebot
    nonebot.init(
        driver="~fastapi",
        host=onebot.host,
        port=onebot.port,
        onebot_access_token=onebot.access_token.get_secret_value(),
        command_start={"/"},
        log_level=settings.log_level,
    )
    nonebot.get_driver().register_adapter(Adapter)
    make_findable()
    plugin = nonebot.load_plugin(PLUGIN)
    if plugin is None:
        raise CannotListen(f"could not load the {PLUGIN} plugin")
    plugin.module.SERVICE.attach(runtime)
    config = uvicorn.Config(
        nonebot.get_asgi(), host=onebot.host, port=onebot.port, log_config=None, lifespan="on",
        ws_max_size=16 * 1024 * 1024,
    )  # fmt: skip
    try:  # bound here: uvicorn would exit the whole process on a taken port
        sock = socket.create_server((onebot.host, onebot.port))
    except OSError as e:
        raise CannotListen(
            f"the OneBot server could not listen on {onebot.host}:{onebot.port}: "
            f"{e.strerror or e} (CANGTOU_ONEBOT__HOST, CANGTOU_ONEBOT__PORT)"
        ) from None
    server = _embedded_server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT_S
    while not server.started:
        if task.done() or asyncio.get_running_loop().time() > deadline:
            server.should_exit = True
            raise CannotListen("the OneBot server did not start (see the log above)")
        await asyncio.sleep(0.05)
    task.add_done_callback(lambda t: stop.set())  # the server ended: so does the bot
    return OneBotServer(f"ws://{onebot.host}:{onebot.port}/onebot/v11/ws", server, task)
