"""Bot benchmark (prints numbers; not a test): /acrostic through the core and through the real
PTB Application against the fake Bot API server, on the shipped model and a SQLite file, for
both generation modes in one run — step-scheduler processes ("batched",
CANGTOU_LIMITS__BATCHING=true) and one poem at a time per worker process ("processes").

    python -m tests.bench.bench_bot [--requests N] [--rates 25,50,100] [--clients C]
        [--workers W] [--decoding diverse|beam] [--window S] [--json FILE]

- baseline: the engine alone, one poem after another in this process (poems/s, median ms);
then for each mode:
- alone: one request at a time through the core (ms per poem at batch 1), the two modes
  taking turns;
- generation alone: C clients awaiting the generator directly (no command core, no database):
  what each generation mode itself serves at saturation: poems finished in a --window of
  seconds after 2 s of the same load, the modes taking turns for 3 rounds;
- closed loop: C clients each sending their next /acrostic as soon as the last is answered
  (saturation: poems/s, p50/p95 latency);
- open loop: N requests arriving at each rate per second (as users would), through the core
  and then through Telegram (update pushed → sendMessage received), latency per request;
- the mean number of poems per batched step.
Every request must be stored and every reply sent; the benchmark says so or fails loudly.
Rate limits are lifted here (every request comes from a different user in a handful of chats).
--json FILE writes {"modes": {"batched": M, "processes": M}}, each M
{"saturation_poems_per_s" (the generation mode's, windowed), "p95_ms": {rate: ms through
Telegram}, "alone_ms", "mean_batch", "core_closed_loop_poems_per_s"};
"p95_core_ms" beside "modes" has the same through the core, "machine" the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time

from pydantic import SecretStr
from sqlalchemy import func, select

from bot.base.settings import Settings
from bot.chat.core import Actor
from bot.operations.retrain_inputs import HEADS_FILE
from bot.runtime.app import build_core
from bot.serving.poets import PoetHolder
from bot.store.models import PoemRequest, RequestStatus
from engine import Poet
from engine.spec import PoemSpec
from tests.bench import machine
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


def settings_for(
    url: str, workers: int, batching: bool = True, decoding: str = "diverse"
) -> Settings:
    limits = {"user_per_minute": 10_000, "user_burst": 10_000, "chat_per_minute": 100_000,
              "chat_burst": 100_000, "workers": workers, "queue_size": 4096,
              "batching": batching}  # fmt: skip
    return Settings(_env_file=None, database_url=url, limits=limits, decoding=decoding)


def actor(n: int) -> Actor:
    return Actor("bench", f"u{n}", f"c{n % 7}", chat_kind="group")


def baseline(poet: Poet, all_heads: list[str], count: int, decoding: str = "diverse") -> None:
    times = []
    _cpu[0] = time.process_time()
    started = time.perf_counter()
    for i in range(count):
        t = time.perf_counter()
        poet.acrostic(all_heads[i % len(all_heads)], mode=decoding)
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


async def generation_loop(generator, all_heads, clients: int, seconds: float, decoding: str,
                          warm_s: float = 2.0) -> float:  # fmt: skip
    """C clients awaiting `generator.write` directly (no command core, no database), each
    sending its next poem as soon as the last is back: poems/s finished in a window of
    `seconds` after `warm_s` of the same load (no ramp-up or drain in the count)."""
    state = {"next": 0, "done": 0, "counting": False, "stop": False}

    async def client():
        while not state["stop"]:
            n = state["next"]
            state["next"] += 1
            poem = await generator.write(PoemSpec(all_heads[n % len(all_heads)], mode=decoding))
            assert poem.lines
            state["done"] += state["counting"]

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await asyncio.sleep(warm_s)
    state["counting"] = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    state["counting"] = False
    rate = state["done"] / (time.perf_counter() - started)
    state["stop"] = True
    await asyncio.gather(*tasks)
    return rate


async def generation_rounds(cores: dict, all_heads, args, rounds: int = 3) -> dict[str, float]:
    """What each generation mode itself serves at saturation, the modes taking turns for
    `rounds` rounds of --window seconds (this VM's speed drifts over minutes; turns keep the
    ratio fair)."""
    rates: dict[str, list[float]] = {mode: [] for mode in cores}
    for _ in range(rounds):
        for mode, core in cores.items():
            rates[mode].append(await generation_loop(
                core.generator, all_heads, args.clients, args.window, args.decoding
            ))  # fmt: skip
    out = {}
    for mode, values in rates.items():
        out[mode] = statistics.mean(values)
        cells = " ".join(f"{v:5.1f}" for v in values)
        print(f"{mode + ', generation alone':<34} {out[mode]:7.1f} poems/s (rounds: {cells}; "
              f"{args.clients} clients, no core, no database)")  # fmt: skip
    return out


async def open_loop(send, total: int, rate: float, name: str) -> list[float]:
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
    return latencies


def stored(core) -> int:
    with core.db.session() as session:
        return session.scalar(select(func.count()).where(PoemRequest.status == RequestStatus.OK))


async def through_core(core, all_heads, total: int, rate: float) -> list[float]:
    async def send(n):
        reply = await core.command(actor(n), f"/acrostic {all_heads[n % len(all_heads)]}")
        assert reply.poem_id is not None, reply.text

    return await open_loop(send, total, rate, f"core, open loop at {rate:g}/s")


async def alone(cores: dict, all_heads, count: int) -> dict[str, float]:
    """Median ms of one request at a time through each mode's core, the modes taking turns
    (the load on the machine drifts; turns keep the ratio fair)."""
    times: dict[str, list[float]] = {mode: [] for mode in cores}
    for n in range(count):
        for mode, core in cores.items():
            t = time.perf_counter()
            reply = await core.command(actor(n), f"/acrostic {all_heads[n % len(all_heads)]}")
            times[mode].append((time.perf_counter() - t) * 1000)
            assert reply.poem_id is not None, reply.text
    medians = {mode: statistics.median(ms) for mode, ms in times.items()}
    for mode, ms in medians.items():
        print(f"{mode + ', one request at a time':<34} median {ms:6.1f} ms")
    return medians


async def through_telegram(core, all_heads, total: int, rates: list[float]) -> dict:
    from bot.adapters import telegram_adapter
    from tests.fakes import FakeBotApi

    api = FakeBotApi()
    await api.start()
    settings = core.settings
    settings = settings.model_copy(
        update={"telegram": settings.telegram.model_copy(
            update={"token": SecretStr(api.token), "base_url": api.base_url})}
    )  # fmt: skip
    waiting: dict[int, asyncio.Future] = {}
    p95 = {}

    def on_call(call):  # resolve the waiter of a chat when its reply arrives
        future = waiting.pop(int(call.params.get("chat_id", 0)), None)
        if call.method == "sendMessage" and future and not future.done():
            future.set_result(call)

    api.on_call = on_call
    application = telegram_adapter.build_application(settings, core)
    async with application:
        await application.updater.start_polling(poll_interval=0, timeout=5)
        await application.start()

        for round_, rate in enumerate(rates):

            async def send(n, base=10_000 + round_ * total):
                chat = base + n
                waiting[chat] = asyncio.get_running_loop().create_future()
                api.command(f"/acrostic {all_heads[n % len(all_heads)]}", user_id=chat)
                call = await asyncio.wait_for(waiting[chat], 120)
                assert "《" in call.params["text"], call.params["text"]

            latencies = await open_loop(
                send, total, rate, f"telegram (PTB + fake API) at {rate:g}/s"
            )
            p95[f"{rate:g}"] = round(pct(latencies, 0.95), 1)
        await application.updater.stop()
        await application.stop()
    await api.stop()
    replies = len(api.sent("sendMessage"))
    print(f"telegram: {replies} replies sent for {total * len(rates)} updates")
    return p95


async def one_mode(
    args, all_heads, core, mode: str, alone_ms: float, generation: float
) -> tuple[dict, dict]:
    """The loaded measurements of one generation mode: (its M for --json, p95 through the
    core)."""
    print(f"== {mode}: {args.workers} {'step-scheduler' if mode == 'batched' else 'worker'} "
          f"processes, decoding {args.decoding}")  # fmt: skip
    try:
        started = time.perf_counter()
        await closed_loop(core, all_heads, args.clients, args.requests)
        saturation = args.requests / (time.perf_counter() - started)
        core_p95 = {}
        for rate in args.rates:
            latencies = await through_core(core, all_heads, args.requests, rate)
            core_p95[f"{rate:g}"] = round(pct(latencies, 0.95), 1)
        telegram_p95 = await through_telegram(core, all_heads, args.requests, args.rates)
        mean_batch = core.generator.mean_batch or 1.0
        print(f"{'mean poems per model step':<34} {mean_batch:7.1f}")
        expected = args.alone + args.requests * (1 + 2 * len(args.rates))
        count = stored(core)
        print(f"stored: {count} answered requests of {expected} sent")
        if count != expected:
            raise SystemExit("FAIL: some requests were not stored")
    finally:
        await core.close()
    result = {"saturation_poems_per_s": round(generation, 2), "p95_ms": telegram_p95,
              "core_closed_loop_poems_per_s": round(saturation, 2),
              "alone_ms": round(alone_ms, 1), "mean_batch": round(mean_batch, 2)}  # fmt: skip
    return result, core_p95


def side_by_side(modes: dict, core_p95: dict) -> None:
    b, p = modes["batched"], modes["processes"]
    print("\n== side by side (batched / processes)")
    rows = [("saturation, poems/s", b["saturation_poems_per_s"], p["saturation_poems_per_s"]),
            ("core closed loop, poems/s", b["core_closed_loop_poems_per_s"],
             p["core_closed_loop_poems_per_s"]),
            ("alone, ms", b["alone_ms"], p["alone_ms"]),
            ("mean poems per step", b["mean_batch"], p["mean_batch"])]  # fmt: skip
    for rate in b["p95_ms"]:
        rows.append((f"p95 at {rate}/s, telegram ms", b["p95_ms"][rate], p["p95_ms"][rate]))
        rows.append((f"p95 at {rate}/s, core ms", core_p95["batched"][rate],
                     core_p95["processes"][rate]))  # fmt: skip
    for name, x, y in rows:
        print(f"{name:<30} {x:9.1f} {y:9.1f}   ratio {x / y:5.2f}")


async def main(args) -> None:
    all_heads = heads()
    with tempfile.TemporaryDirectory() as tmp:
        poet = Poet.load()
        print(f"model {poet.model_version}, stepper precision {poet.stepper.precision} "
              f"(batched: {poet.batch_stepper.precision}), SQLite in {tmp}")  # fmt: skip
        print(f"machine: {machine.describe()}")
        for head in all_heads[:10]:  # warm-up: masks, caches
            poet.acrostic(head, mode=args.decoding)
        baseline(poet, all_heads, 50, args.decoding)
        cores = {}
        for mode in ("batched", "processes"):
            url = f"sqlite:///{tmp}/bench-{mode}.db"
            settings = settings_for(url, args.workers, mode == "batched", args.decoding)
            cores[mode] = build_core(settings, PoetHolder())
            await cores[mode].generator.warm_up()
        alone_ms = await alone(cores, all_heads, args.alone)
        generation = await generation_rounds(cores, all_heads, args)
        modes, core_p95 = {}, {}
        for mode, core in cores.items():
            modes[mode], core_p95[mode] = await one_mode(
                args, all_heads, core, mode, alone_ms[mode], generation[mode]
            )  # fmt: skip
    side_by_side(modes, core_p95)
    if args.json:
        report = {"modes": modes, "p95_core_ms": core_p95, "decoding": args.decoding,
                  "requests": args.requests, "workers": args.workers,
                  "machine": machine.describe()}  # fmt: skip
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rates", type=lambda s: [float(r) for r in s.split(",")],
                        default=[25.0, 50.0, 100.0])  # fmt: skip
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--alone", type=int, default=20)
    parser.add_argument("--window", type=float, default=6.0)
    parser.add_argument("--decoding", choices=["diverse", "beam"], default="diverse")
    parser.add_argument("--json", metavar="FILE")
    asyncio.run(main(parser.parse_args()))
