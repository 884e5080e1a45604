"""Storage on real SQLite and real PostgreSQL, schema made only by the Alembic migrations."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from bot.store import queries
from bot.store.models import ChatSettings, PoemRequest, Rating, RequestStatus, Subscription, User
from bot.store.session import Database, alembic_config, current_revision, upgrade

pytestmark = pytest.mark.integration


@pytest.fixture
def db(database_url):
    upgrade(database_url)
    database = Database(database_url)
    yield database
    database.dispose()


def poem(session, user, chat, head="春风") -> PoemRequest:
    row = PoemRequest(
        user_id=user.id, chat_id=chat.id, raw_text=f"/acrostic {head}", head=head,
        options={"chars_per_line": 5}, poem="春来花自开，风起叶先飞。", model_version="v1",
        status=RequestStatus.OK,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def test_upgrade_from_empty_then_no_drift(database_url):
    upgrade(database_url)
    assert current_revision(database_url) is not None
    command.check(alembic_config(database_url))  # raises if the models drifted from migrations
    db = Database(database_url)
    tables = set(inspect(db.engine).get_table_names())
    db.dispose()
    assert {"users", "chats", "poem_requests", "ratings", "chat_settings", "subscriptions",
            "model_versions", "retrain_runs"} <= tables  # fmt: skip


def test_downgrade_to_empty_and_back(database_url):
    upgrade(database_url)
    command.downgrade(alembic_config(database_url), "base")
    assert current_revision(database_url) is None
    upgrade(database_url)
    command.check(alembic_config(database_url))


def test_rating_once_per_user_and_re_rating_updates(db):
    with db.session() as s:
        user = queries.user(s, "telegram", "1", "Li Bai")
        chat = queries.chat(s, "telegram", "-5", "group")
        request_id = poem(s, user, chat).id
        assert queries.rate(s, request_id, user.id, 3) is False
        assert queries.rate(s, request_id, user.id, 5) is True
        other = queries.user(s, "discord", "1")  # same id, other platform: another person
        queries.rate(s, request_id, other.id, 4)
    with db.session() as s:
        summary = queries.rating_summary(s, request_id)
        assert (summary.mean, summary.count) == (4.5, 2)


@pytest.mark.parametrize(
    "bad",
    [
        lambda s, u, p: s.add(Rating(request_id=p.id, user_id=u.id, stars=6)),
        lambda s, u, p: s.add(Rating(request_id=p.id, user_id=u.id, stars=0)),
        lambda s, u, p: s.add_all([Rating(request_id=p.id, user_id=u.id, stars=1),
                                   Rating(request_id=p.id, user_id=u.id, stars=2)]),
        lambda s, u, p: s.add(Rating(request_id=p.id + 999, user_id=u.id, stars=3)),
        lambda s, u, p: s.add(ChatSettings(chat_id=p.chat_id, chars_per_line=6)),
        lambda s, u, p: s.add(ChatSettings(chat_id=p.chat_id, script="klingon")),
        lambda s, u, p: s.add(ChatSettings(chat_id=p.chat_id, temperature=0)),
        lambda s, u, p: s.add(User(platform=u.platform, external_id=u.external_id)),
        lambda s, u, p: s.add(Subscription(chat_id=p.chat_id + 999, post_time="08:00")),
    ],
    ids=["stars6", "stars0", "twice", "no-poem", "form6", "script", "temp0", "dup-user", "no-chat"],
)  # fmt: skip
def test_the_database_rejects_constraint_violations(db, bad):
    with db.session() as s:
        user = queries.user(s, "telegram", "1")
        request = poem(s, user, queries.chat(s, "telegram", "1"))
    with pytest.raises(IntegrityError), db.session() as s:
        bad(s, user, request)
        s.flush()


def test_forget_user_deletes_their_requests_and_ratings_only(db):
    with db.session() as s:
        a, b = queries.user(s, "telegram", "a", "A"), queries.user(s, "telegram", "b", "B")
        chat = queries.chat(s, "telegram", "-1", "group")
        mine, theirs = poem(s, a, chat), poem(s, b, chat, "明月")
        child = poem(s, b, chat, "春风")
        child.parent_id = mine.id  # b asked for "another one" of a's poem
        for user, request, stars in [(a, theirs, 5), (b, mine, 4), (b, theirs, 3)]:
            queries.rate(s, request.id, user.id, stars)
        a_id = a.id
    with db.session() as s:
        assert queries.forget_user(s, a_id) == (1, 2)  # a's poem; a's rating + b's rating of it
    with db.session() as s:
        assert s.get(User, a_id) is None
        assert [r.head for r in s.scalars(select(PoemRequest).order_by(PoemRequest.id))] == [
            "明月", "春风"]  # fmt: skip
        assert [r.stars for r in s.scalars(select(Rating))] == [3]
        assert s.scalar(select(PoemRequest.parent_id).where(PoemRequest.head == "春风")) is None


def test_top_poems_and_stats(db):
    with db.session() as s:
        users = [queries.user(s, "telegram", str(n)) for n in range(3)]
        chat = queries.chat(s, "telegram", "-9", "group")
        elsewhere = queries.chat(s, "telegram", "-10", "group")
        good, fine, other = poem(s, users[0], chat, "好"), poem(s, users[1], chat, "中"), poem(
            s, users[0], elsewhere, "外")  # fmt: skip
        for user in users:
            queries.rate(s, good.id, user.id, 5)
            queries.rate(s, other.id, user.id, 5)
        queries.rate(s, fine.id, users[0].id, 3)
        s.add(PoemRequest(user_id=users[2].id, chat_id=chat.id, raw_text="/acrostic x",
                          options={}, status=RequestStatus.REJECTED, error_code="bad_head"))  # fmt: skip
        chat_id = chat.id
    with db.session() as s:
        top = queries.top_poems(s, chat_id)
        assert [(p.head, p.mean, p.count) for p in top] == [("好", 5.0, 3), ("中", 3.0, 1)]
        stats = queries.chat_stats(s, chat_id)
        assert (stats.poems, stats.failed, stats.users, stats.ratings) == (2, 1, 3, 4)
        assert stats.mean_stars == pytest.approx(4.5)


def test_a_database_error_hides_its_sql_parameters(database_url):
    """Issue "Hardening, round 3" item 3: SQL parameters (user text) stay out of error messages,
    and so out of every logged traceback. (PostgreSQL's own DETAIL names the values of a
    violated unique key; a poem's text is in no key.)"""
    upgrade(database_url)
    db = Database(database_url)
    secret = "王小明的秘密诗句"
    with pytest.raises(IntegrityError) as caught, db.session() as session:
        session.add(PoemRequest(user_id=10**9, chat_id=10**9, raw_text=secret, status="ok"))
        session.flush()
    assert secret not in str(caught.value) and "hidden" in str(caught.value)
    db.dispose()


def test_migration_0005_records_the_owner_of_existing_private_chats(database_url):
    """A private chat that one user wrote in before 0005 belongs to that user afterwards; a
    group, or a private chat nobody wrote in, belongs to nobody."""
    import sqlalchemy as sa

    upgrade(database_url, "0004")
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        for uid in (1, 2):
            conn.execute(sa.text("INSERT INTO users (id, platform, external_id, name, created_at)"
                                 " VALUES (:i, 'discord', :e, '', CURRENT_TIMESTAMP)"),
                         {"i": uid, "e": str(uid)})  # fmt: skip
        for cid, kind in ((1, "private"), (2, "group"), (3, "private")):
            conn.execute(sa.text("INSERT INTO chats (id, platform, external_id, kind, title,"
                                 " created_at) VALUES (:i, 'discord', :e, :k, '',"
                                 " CURRENT_TIMESTAMP)"), {"i": cid, "e": f"c{cid}", "k": kind})  # fmt: skip
        for rid, uid, cid in ((1, 1, 1), (2, 1, 2), (3, 2, 2)):
            conn.execute(sa.text("INSERT INTO poem_requests (id, user_id, chat_id, raw_text,"
                                 " options, status, created_at) VALUES (:r, :u, :c, 'x', '{}',"
                                 " 'ok', CURRENT_TIMESTAMP)"), {"r": rid, "u": uid, "c": cid})  # fmt: skip
    engine.dispose()
    upgrade(database_url)
    db = Database(database_url)
    with db.session() as s:
        owners = {c.external_id: c.owner_id for c in s.scalars(select(queries.Chat))}
        kept = len(s.scalars(select(PoemRequest)).all())
    assert owners == {"c1": 1, "c2": None, "c3": None}
    assert kept == 3  # SQLite copies the altered table: its old rows' references survive
    db.dispose()


def test_a_deleted_rows_id_is_never_handed_out_again(database_url, tmp_path):
    """Probe 2026-12-07: SQLite gave a forgotten user's last poem id to the next poem, whose
    🖼 then showed the old poem's cached card. The migration keeps every row and its links."""
    config = alembic_config(database_url)
    command.upgrade(config, "0007")
    db = Database(database_url)
    with db.session() as s:
        user = queries.user(s, "telegram", "1", "Li Bai")
        chat = queries.chat(s, "telegram", "-5", "group")
        first = poem(s, user, chat)
        queries.rate(s, first.id, user.id, 5)
        ids = (user.id, chat.id, first.id)
    db.dispose()
    upgrade(database_url)  # 0008: the tables are copied where SQLite needs it
    command.check(config)
    db = Database(database_url)
    try:
        with db.session() as s:
            assert queries.rating_summary(s, ids[2]).count == 1  # nothing cascaded away
            assert s.get(PoemRequest, ids[2]).user_id == ids[0]
            s.delete(s.get(User, ids[0]))  # the user, their poems and ratings (cascade)
        with db.session() as s:
            assert s.get(PoemRequest, ids[2]) is None
            user = queries.user(s, "telegram", "1", "Li Bai")
            chat = queries.chat(s, "telegram", "-5", "group")
            assert user.id > ids[0] and poem(s, user, chat).id > ids[2]
    finally:
        db.dispose()
