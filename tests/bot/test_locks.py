"""Two bot processes against one real PostgreSQL: each scheduled job runs once across both, and
when the replica holding the retrain lock is killed, the other one takes over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from bot.store.models import Chat, DailyPost, RetrainRun, Subscription
from bot.store.session import Database, upgrade

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def shared(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL")
    upgrade(database_url)
    db = Database(database_url)
    with db.session() as s:
        for n in range(3):
            chat = Chat(platform="test", external_id=f"c{n}", kind="group")
            s.add(chat)
            s.flush()
            s.add(Subscription(chat_id=chat.id, post_time="00:00", timezone="UTC"))
    yield database_url, db
    db.dispose()


@pytest.fixture(params=["postgres"])
def database_url(request, tmp_path):  # only the PostgreSQL flavour of the shared fixture
    from tests.conftest import POSTGRES_ENV, _fresh_postgres_database

    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    import uuid

    return _fresh_postgres_database(server, f"r_{uuid.uuid4().hex[:12]}")


def replica(url, model, name, hold, linger):
    return subprocess.Popen(
        [sys.executable, "-m", "tests.replica_main", url, str(model), name,
         "--hold", str(hold), "--linger", str(linger)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip


def wait_for_line(process, text, timeout=60):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never came:\n{''.join(lines)}")


def go(*processes):
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()


@pytest.mark.slow
def test_each_job_runs_once_across_two_replicas(shared, tiny_model_dir):
    url, db = shared
    a = replica(url, tiny_model_dir, "a", hold=2, linger=5)
    b = replica(url, tiny_model_dir, "b", hold=2, linger=5)
    wait_for_line(a, "a: ready")
    wait_for_line(b, "b: ready")
    go(a, b)
    out = a.communicate(timeout=60)[0] + b.communicate(timeout=60)[0]
    assert a.returncode == 0 and b.returncode == 0, out
    with db.session() as s:
        runs = s.scalars(select(RetrainRun)).all()
        posts = s.scalars(select(DailyPost)).all()
    assert len(runs) == 1 and runs[0].status == "rejected", out  # one retrain, by one replica
    assert len(posts) == 3 and {p.status for p in posts} == {"sent"}, out
    assert out.count("posted to") == 3


@pytest.mark.slow
def test_killing_the_lock_holder_lets_the_other_take_over(shared, tiny_model_dir):
    url, db = shared
    a = replica(url, tiny_model_dir, "a", hold=120, linger=120)
    b = replica(url, tiny_model_dir, "b", hold=1, linger=4)
    wait_for_line(a, "a: ready")
    wait_for_line(b, "b: ready")
    go(a)
    wait_for_line(a, "a: training run")
    go(b)
    first_b = b.communicate(timeout=60)[0]
    assert "b: lock held elsewhere" in first_b and "b: training run" not in first_b
    a.send_signal(signal.SIGKILL)  # the holder dies mid-training: PostgreSQL drops its lock
    a.communicate(timeout=30)
    assert a.returncode == -signal.SIGKILL
    b2 = replica(url, tiny_model_dir, "b", hold=1, linger=4)
    wait_for_line(b2, "b: ready")
    go(b2)
    second_b = b2.communicate(timeout=60)[0]
    assert "b: training run" in second_b and "b: finished run" in second_b, second_b
    with db.session() as s:
        runs = {r.inputs["replica"]: r for r in s.scalars(select(RetrainRun))}
    assert runs["a"].status == "failed" and runs["a"].decision.startswith("abandoned")
    assert runs["b"].status == "rejected"
