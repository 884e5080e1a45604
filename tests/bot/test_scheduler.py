"""Both scheduled jobs driven by a frozen clock (time-machine) through a real APScheduler 3.11
AsyncIOScheduler with its job store in the app database; daily posts with a failing chat."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from bot.chat.core import Actor
from bot.chat.daily import sweep
from bot.operations.almanac import LUNAR_HEADS, head_of_the_day, solar_term, theme_of
from bot.operations.locks import JobLocks
from bot.runtime import scheduler as schedules
from bot.store.models import DailyPost, PoemRequest, Subscription

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


class Counting:
    """Stands in for the retrainer and the senders, counting what the jobs do."""

    def __init__(self, core, fail_chats=()):
        self.core, self.runs, self.sent, self.fail_chats = core, [], [], set(fail_chats)
        self.cards = []
        self.retrainer = self
        self.senders = {"telegram": self.send, "qq": self.send}
        self.vias = []
        self.locks = JobLocks(core.db)

    async def run(self, trigger, once_per_night=False):
        self.runs.append((trigger, dt.datetime.now(SHANGHAI)))

    async def send(self, chat_id, reply, via=""):
        if chat_id in self.fail_chats:
            raise RuntimeError("Forbidden: bot was kicked from the group chat")
        self.sent.append((chat_id, reply.text))
        self.cards.append(reply.card)
        self.vias.append(via)


async def wait_until(predicate, timeout=5.0):
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_nightly_retrain_fires_at_three_and_a_missed_run_is_caught_up_once(core):
    settings = core.settings
    with time_machine.travel(at(2026, 11, 22, 2, 0), tick=False) as clock:
        first = schedules.build_scheduler(settings)
        runtime = Counting(core)
        schedules.start(first, runtime, settings)
        await asyncio.sleep(0.1)
        job = first.get_job(schedules.RETRAIN_JOB)
        assert job.next_run_time == at(2026, 11, 22, 3, 0)
        assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (6 * 3600, True, 1)
        await schedules.stop(first)  # the bot goes down before 03:00 …

        clock.move_to(at(2026, 11, 23, 5, 0))  # … and comes back 27 hours later
        second = schedules.build_scheduler(settings)
        schedules.start(second, runtime, settings)
        await wait_until(lambda: runtime.runs)
        await asyncio.sleep(0.2)
        # two nights were missed: 22nd 03:00 (too old) and 23rd 03:00 (within the grace): one run
        assert [trigger for trigger, _ in runtime.runs] == ["schedule"]
        assert second.get_job(schedules.RETRAIN_JOB).next_run_time == at(2026, 11, 24, 3, 0)
        await schedules.stop(second)

        third = schedules.build_scheduler(settings)  # a plain restart: nothing to catch up
        schedules.start(third, runtime, settings)
        await asyncio.sleep(0.3)
        assert len(runtime.runs) == 1
        await schedules.stop(third)


async def test_a_changed_time_reschedules_deliberately(core):
    with time_machine.travel(at(2026, 11, 22, 12, 0), tick=False):
        first = schedules.build_scheduler(core.settings)
        schedules.start(first, Counting(core), core.settings)
        await schedules.stop(first)
        settings = core.settings.model_copy(
            update={"retrain": core.settings.retrain.model_copy(update={"time": "04:30"})}
        )
        second = schedules.build_scheduler(settings)
        schedules.start(second, Counting(core), settings)
        assert second.get_job(schedules.RETRAIN_JOB).next_run_time == at(2026, 11, 23, 4, 30)
        await schedules.stop(second)


async def subscribe(core, chat_id, time="08:00", form="七言"):
    admin = Actor("telegram", "1", chat_id, "admin", "group", chat_admin=None)
    reply = await core.command(admin, f"/subscribe {time} {form}")
    assert reply.text.startswith("已订阅"), reply.text


async def test_daily_posts_to_three_chats_one_failing_once_a_day(core):
    for chat in ("-1", "-2", "-3"):
        await subscribe(core, chat, "08:00", "五言")
    runtime = Counting(core, fail_chats={"-2"})
    with time_machine.travel(at(2026, 12, 22, 7, 59), tick=False) as clock:
        assert await sweep(core, runtime.senders, dt.datetime.now(dt.UTC)) == []  # not yet

        clock.move_to(at(2026, 12, 22, 8, 0))
        results = await sweep(core, runtime.senders, dt.datetime.now(dt.UTC))
        assert sorted(r.status for r in results) == ["failed", "sent", "sent"]
        assert [chat for chat, _ in runtime.sent] == ["-1", "-3"]
        text = runtime.sent[0][1]
        assert "每日一诗 · 2026-12-22 · 冬至" in text and "《冬至阳生》· 藏头五言" in text

        clock.move_to(at(2026, 12, 22, 9, 30))  # later sweeps, and a restart, post nothing more
        assert await sweep(core, runtime.senders, dt.datetime.now(dt.UTC)) == []
        with core.db.session() as s:
            posts = {p.subscription_id: p.status for p in s.scalars(select(DailyPost))}
            failed = s.scalar(select(DailyPost).where(DailyPost.status == "failed"))
            assert sorted(posts.values()) == ["failed", "sent", "sent"]
            assert "kicked" in failed.error
            assert s.scalar(select(PoemRequest).where(PoemRequest.raw_text == "/daily 冬至阳生"))

        clock.move_to(at(2026, 12, 23, 8, 1))  # the next day: everyone again
        results = await sweep(core, runtime.senders, dt.datetime.now(dt.UTC))
        assert len(results) == 3 and len(runtime.sent) == 4


async def test_a_daily_post_goes_out_through_the_account_that_received_subscribe(core):
    """QQ: several accounts may be connected; each subscription posts through its own."""
    for chat, via in (("group:1", "10001"), ("group:2", "10002")):
        admin = Actor("qq", "1", chat, "群主", "group", via=via)
        assert (await core.command(admin, "/subscribe 08:00")).text.startswith("已订阅")
    runtime = Counting(core)
    with time_machine.travel(at(2026, 12, 22, 8, 0), tick=False):
        results = await sweep(core, runtime.senders, dt.datetime.now(dt.UTC))
    assert [r.status for r in results] == ["sent", "sent"]
    assert sorted(zip((c for c, _ in runtime.sent), runtime.vias, strict=True)) == [
        ("group:1", "10001"), ("group:2", "10002")]  # fmt: skip


def needs_a_card_font():
    import os

    from bot.cards.render import FontNotFound, find_font

    try:
        find_font()
    except FontNotFound as e:
        if os.environ.get("CI"):  # .ci/run installs fonts-noto-cjk: CI never skips these
            pytest.fail(f"CI has no CJK font: {e}")
        pytest.skip(f"no CJK font installed ({e})")


def png_size(data: bytes) -> tuple[int, int]:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


async def test_a_daily_post_is_its_card_with_the_text_as_caption(core):
    from bot.cards.render import layout

    needs_a_card_font()
    await subscribe(core, "-8", "08:00", "五言")
    runtime = Counting(core)
    results = await sweep(core, runtime.senders, at(2026, 12, 22, 8, 0).astimezone(dt.UTC))
    assert [r.status for r in results] == ["sent"]
    ((chat, text),), (card,) = runtime.sent, runtime.cards
    assert chat == "-8"
    assert "《冬至阳生》· 藏头五言" in text
    assert png_size(card) == (layout(4, 5).width, layout(4, 5).height)


async def test_festival_posts_keep_each_chats_time_and_form(core):
    """中秋 2026-09-25: the festival is the head and the theme; each chat at its own time."""
    from bot.cards.render import layout

    needs_a_card_font()
    await subscribe(core, "-21", "08:00", "五言")
    await subscribe(core, "-22", "20:00", "七言")
    runtime = Counting(core)
    with time_machine.travel(at(2026, 9, 25, 7, 0), tick=False) as clock:
        assert await sweep(core, runtime.senders, dt.datetime.now(dt.UTC)) == []
        clock.move_to(at(2026, 9, 25, 8, 0))
        assert [r.status for r in await sweep(core, runtime.senders, dt.datetime.now(dt.UTC))] == [
            "sent"
        ]
        clock.move_to(at(2026, 9, 25, 20, 0))
        assert [r.status for r in await sweep(core, runtime.senders, dt.datetime.now(dt.UTC))] == [
            "sent"
        ]
    (first, morning), (second, evening) = runtime.sent
    assert (first, second) == ("-21", "-22")
    assert "每日一诗 · 2026-09-25 · 中秋节" in morning and "《中秋》· 藏头五言" in morning
    assert "《中秋》· 藏头七言" in evening
    with core.db.session() as s:
        requests = list(s.scalars(select(PoemRequest).order_by(PoemRequest.id)))
    assert [(r.head, r.options["theme"], r.options["chars_per_line"]) for r in requests] == [
        ("中秋", "中秋", 5), ("中秋", "中秋", 7)
    ]  # fmt: skip
    assert [png_size(card) for card in runtime.cards] == [
        (layout(2, 5).width, layout(2, 5).height), (layout(2, 7).width, layout(2, 7).height)
    ]  # fmt: skip


async def test_the_sweep_job_runs_on_the_scheduler_with_the_frozen_clock(core):
    await subscribe(core, "-9", "08:00")
    runtime = Counting(core)
    with time_machine.travel(at(2026, 2, 4, 8, 5), tick=False):
        scheduler = schedules.build_scheduler(core.settings)
        schedules.start(scheduler, runtime, core.settings)
        scheduler.get_job(schedules.SWEEP_JOB).modify(next_run_time=dt.datetime.now(SHANGHAI))
        await wait_until(lambda: runtime.sent)
        await schedules.stop(scheduler)
    assert "立春" in runtime.sent[0][1]


async def test_a_claimed_day_is_never_posted_twice(core):
    """Two sweeps at once (two replicas, or a restart mid-sweep): the UNIQUE claim decides."""
    await subscribe(core, "-4")
    runtime = Counting(core)
    now = at(2026, 11, 22, 9, 0).astimezone(dt.UTC)
    first, second = await asyncio.gather(
        sweep(core, runtime.senders, now), sweep(core, runtime.senders, now)
    )
    assert sorted(r.status for r in first + second) == ["sent", "skipped"]
    assert len(runtime.sent) == 1


async def test_subscribe_needs_a_chat_admin_and_unsubscribe_works(core):
    async def no():
        return False

    member = Actor("telegram", "5", "-6", "member", "group", chat_admin=no)
    assert "只有群管理员" in (await core.command(member, "/subscribe 07:00")).text
    await subscribe(core, "-6", "7:05", "五言")
    with core.db.session() as s:
        sub = s.scalar(select(Subscription))
        assert (sub.post_time, sub.chars_per_line, sub.active) == ("07:05", 5, True)
    admin = Actor("telegram", "1", "-6", "admin", "group")
    assert (await core.command(admin, "/unsubscribe")).text == "已取消每日一诗。"
    assert "用法" in (await core.command(admin, "/subscribe 25:00")).text


@pytest.mark.parametrize(
    ("day", "term"),
    [((2024, 12, 21), "冬至"), ((2025, 12, 21), "冬至"), ((2026, 12, 22), "冬至"),
     ((2026, 2, 4), "立春"), ((2025, 4, 4), "清明"), ((2026, 6, 21), "夏至"),
     ((2026, 11, 22), "小雪"), ((2026, 11, 23), None)],
)  # fmt: skip
def test_solar_terms_fall_on_their_dates(day, term):
    assert solar_term(dt.date(*day)) == term


def test_head_of_the_day_is_deterministic_and_four_characters_but_on_lunar_festivals():
    days = [dt.date(2026, 1, 1) + dt.timedelta(n) for n in range(365)]
    heads = [head_of_the_day(d) for d in days]
    assert heads == [head_of_the_day(d) for d in days]
    assert all(len(h) == 4 for h, _ in heads if h not in LUNAR_HEADS)
    assert sorted(h for h, _ in heads if h in LUNAR_HEADS) == sorted(LUNAR_HEADS)
    assert head_of_the_day(dt.date(2026, 10, 1)) == ("国泰民安", "国庆节")
    # every term, the 8 festivals of the solar calendar and the 7 lunar ones
    assert sum(why not in ("吉语",) for _, why in heads) == 24 + 8 + 7


@pytest.mark.parametrize(
    ("day", "why"),
    [((2026, 2, 17), "春节"), ((2026, 3, 3), "元宵节"), ((2026, 6, 19), "端午节"),
     ((2026, 8, 19), "七夕节"), ((2026, 9, 25), "中秋节"), ((2026, 10, 18), "重阳节"),
     ((2026, 2, 16), "除夕"), ((2027, 2, 6), "春节"), ((2026, 1, 1), "元旦")],
)  # fmt: skip
def test_lunar_festivals_are_their_own_head_and_theme(day, why):
    head, said = head_of_the_day(dt.date(*day))
    assert said == why
    if why == "元旦":  # a festival of the solar calendar: a phrase, on its own theme
        assert (head, theme_of(head)) == ("新年吉祥", None)
    else:
        assert head in LUNAR_HEADS and why.startswith(head) and theme_of(head) == head


async def test_one_unknown_timezone_never_stops_the_sweep(core):
    """Issue 31 item 12: a row with a timezone this machine does not know is skipped and
    logged; every other chat still gets its post."""
    for chat in ("-1", "-2"):
        await subscribe(core, chat, "08:00", "五言")
    with core.db.session() as s:
        s.scalars(select(Subscription)).first().timezone = "Mars/Olympus_Mons"
    runtime = Counting(core)
    with time_machine.travel(at(2026, 12, 22, 8, 0), tick=False):
        results = await sweep(core, runtime.senders, dt.datetime.now(dt.UTC))
    assert [r.status for r in results] == ["sent"] and [c for c, _ in runtime.sent] == ["-2"]


@pytest.mark.parametrize("section", ["retrain", "daily"])
def test_an_unknown_timezone_setting_is_refused_at_start(section):
    from pydantic import ValidationError

    from bot.base.settings import Settings

    with pytest.raises(ValidationError, match="unknown timezone 'Mars/Olympus'"):
        Settings(_env_file=None, **{section: {"timezone": "Mars/Olympus"}})


async def test_a_daily_post_goes_out_as_text_when_the_card_font_is_not_a_font(core, tmp_path):
    """Issue 31 item 11: a bad card font costs the card, never the post."""
    fake = tmp_path / "fake.otf"
    fake.write_bytes(b"not a font")
    core.cards.font = str(fake)  # as CANGTOU_CARD_FONT would set it at start
    await subscribe(core, "-1", "08:00", "五言")
    runtime = Counting(core)
    with time_machine.travel(at(2026, 12, 22, 8, 0), tick=False):
        results = await sweep(core, runtime.senders, dt.datetime.now(dt.UTC))
    assert [r.status for r in results] == ["sent"] and runtime.cards == [None]
    assert "每日一诗" in runtime.sent[0][1]


async def test_a_job_store_that_fails_once_costs_one_wake_up_not_the_scheduler():
    """Probe 2026-12-07: the database locked for a while (a backup, the sqlite3 shell) made
    the job store raise inside APScheduler's wake-up, which never re-armed its timer: no daily
    post or retrain ran again until a restart."""
    from apscheduler.jobstores.memory import MemoryJobStore
    from sqlalchemy.exc import OperationalError

    class LockedOnce(MemoryJobStore):
        failed = False

        def update_job(self, job):
            if not LockedOnce.failed:
                LockedOnce.failed = True
                raise OperationalError("UPDATE apscheduler_jobs", {}, "database is locked")
            super().update_job(job)

    runs = []

    async def tick():
        runs.append(1)

    scheduler = schedules.ResilientScheduler(jobstores={"default": LockedOnce()})
    scheduler.store_retry_s = 0.2
    scheduler.add_job(tick, "interval", seconds=0.1)
    scheduler.start()
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(runs) < 4 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        scheduler.shutdown(wait=False)
    assert LockedOnce.failed and len(runs) >= 4  # it went on after the failure


def test_the_job_store_waits_a_second_for_a_lock_not_fifteen(tmp_path):
    """APScheduler runs its store on the event loop: SQLite's 15 s busy wait there froze every
    chat while a backup held the file (probe). Its transactions wait 1 s, then fail and are
    retried (ResilientScheduler); the bot's own units of work keep their 15 s."""
    from bot.store.session import Database, upgrade

    url = f"sqlite:///{tmp_path}/jobs.db"
    upgrade(url)
    db = Database(url)
    try:
        with schedules._CheckedEngine(db).begin() as connection:
            inside = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
        with db.engine.connect() as connection:
            after = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
        assert (inside, after) == (schedules.STORE_WAIT_MS, 15_000)
    finally:
        db.dispose()
