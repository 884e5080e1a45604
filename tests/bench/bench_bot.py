"""Bot benchmark (prints numbers; not a test): /acrostic through the core and through the real
PTB Application against the fake Bot API server, on the shipped model and a SQLite file.

    python -m tests.bench.bench_bot [--requests N] [--rate R] [--clients C] [--workers W]

- baseline: the engine alone, one poem after another in this process (poems/s, median ms);
- closed loop: C clients each sending their next /acrostic as soon as the last is answered
  (the most the core can do: throughput, p50/p95 latency);
- open loop: N requests arriving at R per second (as users would), through the core and then
  through Telegram (update pushed → sendMessage received). Latency is measured per request.
Every request must be stored and every reply sent; the benchmark says so or fails loudly.
Rate limits are lifted here (every request comes from a different user in a handful of chats).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from pydantic import SecretStr
from sqlalchemy import func, select

from bot.app import build_core
from bot.core import Actor
from bot.retraining import HEADS_FILE
from bot.poets import PoetHolder
from bot.settings import Settings
from bot.store.models import PoemRequest, RequestStatus
from engine import Poet
from train.evaluate import read_heads


def heads() -> list[str]:
    return read_heads(HEADS_FILE)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


_cpu = [time.process_time()]


def summary(name: str, latencies_ms: list[float], seconds: float) -> str:
    """One line of numbers; CPU is this (the bot's) process only, per request."""
    rate = len(latencies_ms) / seconds
    cpu_ms = (time.process_time() - _cpu[0]) / len(latencies_ms) * 1000
    _cpu[0] = time.process_time()
    return (
        f"{name:<34} {rate:7.1f} poems/s   p50 {statistics.median(latencies_ms):6.1f} ms"
        f"   p95 {pct(latencies_ms, 0.95):6.1f} ms   max {max(latencies_ms):6.1f} ms"
        f"   ({len(latencies_ms)} in {seconds:.1f} s; bot CPU {cpu_ms:.1f} ms/request)"
    )


def settings_for(url: str, workers: int) -> Settings:
    limits = {"user_per_minute": 10_000, "user_burst": 10_000, "chat_per_minute": 100_000,
              "chat_burst": 100_000, "workers": workers, "queue_size": 1024}  # fmt: skip
    return Settings(_env_file=None, database_url=url, limits=limits)


def actor(n: int) -> Actor:
    return Actor("bench", f"u{n}", f"c{n % 7}", chat_kind="group")


def baseline(poet: Poet, all_heads: list[str], count: int) -> None:
    times = []
    _cpu[0] = time.process_time()
    started = time.perf_counter()
    for i in range(count):
        t = time.perf_counter()
        poet.acrostic(all_heads[i % len(all_heads)])
        times.append((time.perf_counter() - t) * 1000)
    print(summary("baseline: engine, one at a time", times, time.perf_counter() - started))


async def closed_loop(core, all_heads, clients: int, total: int) -> list[float]:
    latencies: list[float] = []
    counter = iter(range(total))
    _cpu[0] = time.process_time()

    async def client():
        for n in counter:
            t = time.perf_counter()
            reply = await core.command(actor(n), f"/acrostic {all_heads[n % len(all_heads)]}")
            latencies.append((time.perf_counter() - t) * 1000)
            assert reply.poem_id is not None, reply.text

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    print(
        summary(f"core, closed loop, {clients} clients", latencies, time.perf_counter() - started)
    )
    return latencies


async def open_loop(send, total: int, rate: float, name: str) -> None:
    """`send(n)` returns once request n is answered; requests start at `rate` per second."""
    latencies: list[float] = []

    async def one(n: int):
        t = time.perf_counter()
        await send(n)
        latencies.append((time.perf_counter() - t) * 1000)

    _cpu[0] = time.process_time()
    started = time.perf_counter()
    tasks = []
    for n in range(total):
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    print(summary(name, latencies, time.perf_counter() - started))


def stored(core) -> int:
    with core.db.session() as session:
        return session.scalar(select(func.count()).where(PoemRequest.status == RequestStatus.OK))


async def through_core(core, all_heads, total: int, rate: float) -> None:
    async def send(n):
        reply = await core.command(actor(n), f"/acrostic {all_heads[n % len(all_heads)]}")
        assert reply.poem_id is not None, reply.text

    await open_loop(send, total, rate, f"core, open loop at {rate:g}/s")


async def through_telegram(core, all_heads, total: int, rate: float) -> None:
    from bot.adapters import telegram_adapter
    from tests.fakes import FakeBotApi

    api = FakeBotApi()
    await api.start()
    settings = settings_for(core.settings.database_url, core.settings.limits.workers)
    settings = settings.model_copy(
        update={"telegram": settings.telegram.model_copy(
            update={"token": SecretStr(api.token), "base_url": api.base_url})}
    )  # fmt: skip
    waiting: dict[int, asyncio.Future] = {}

    def on_call(call):  # resolve the waiter of a chat when its reply arrives
        future = waiting.pop(int(call.params.get("chat_id", 0)), None)
        if call.method == "sendMessage" and future and not future.done():
            future.set_result(call)

    api.on_call = on_call
    application = telegram_adapter.build_application(settings, core)
    async with application:
        await application.updater.start_polling(poll_interval=0, timeout=5)
        await application.start()

        async def send(n):
            chat = 10_000 + n
            waiting[chat] = asyncio.get_running_loop().create_future()
            api.command(f"/acrostic {all_heads[n % len(all_heads)]}", user_id=chat)
            call = await asyncio.wait_for(waiting[chat], 30)
            assert "《" in call.params["text"], call.params["text"]

        await open_loop(send, total, rate, f"telegram (PTB + fake API) at {rate:g}/s")
        await application.updater.stop()
        await application.stop()
    await api.stop()
    print(f"telegram: {len(api.sent('sendMessage'))} replies sent for {total} updates")


async def main(args) -> None:
    all_heads = heads()
    with tempfile.TemporaryDirectory() as tmp:
        poet = Poet.load()
        print(f"model {poet.model_version}, stepper precision {poet.stepper.precision}, "
              f"{args.workers} generation {'processes' if args.processes else 'threads'}, SQLite in {tmp}")  # fmt: skip
        for head in all_heads[:10]:  # warm-up: masks, caches
            poet.acrostic(head)
        baseline(poet, all_heads, 100)
        holder = PoetHolder() if args.processes else PoetHolder(poet=poet)
        core = build_core(settings_for(f"sqlite:///{tmp}/bench.db", args.workers), holder)
        await core.generator.warm_up()
        try:
            await closed_loop(core, all_heads, args.clients, args.requests)
            await through_core(core, all_heads, args.requests, args.rate)
            await through_telegram(core, all_heads, args.requests, args.rate)
            expected = 3 * args.requests
            count = stored(core)
            print(f"stored: {count} answered requests of {expected} sent")
            if count != expected:
                raise SystemExit("FAIL: some requests were not stored")
        finally:
            await core.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads", dest="processes", action="store_false",
        help="write poems in threads of the bot process instead of worker processes",
    )  # fmt: skip
    asyncio.run(main(parser.parse_args()))
