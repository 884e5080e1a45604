"""the scheduler's jobs moved: bot.scheduler → bot.runtime.scheduler in stored job states

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 21:20:00.000000

APScheduler's SQLAlchemy job store keeps each job as a pickled state naming its function by
path ('bot.scheduler:nightly_retrain'). The bot's folders moved that module; a job stored before
the move would no longer load. This rewrites the path in every apscheduler_jobs* table (one per
replica) that exists; the job stores themselves are APScheduler's, not in the models.
"""

import pickle
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVES = {"bot.scheduler:": "bot.runtime.scheduler:"}


def _rewrite(moves: dict[str, str]) -> None:
    bind = op.get_bind()
    for table in sa.inspect(bind).get_table_names():
        if not table.startswith("apscheduler_jobs"):
            continue
        jobs = sa.table(table, sa.column("id", sa.String), sa.column("job_state", sa.LargeBinary))
        for job_id, blob in bind.execute(sa.select(jobs.c.id, jobs.c.job_state)).all():
            state = pickle.loads(blob)  # written by APScheduler into our own database
            func = state.get("func")
            for old, new in moves.items():
                if isinstance(func, str) and func.startswith(old):
                    state["func"] = new + func[len(old) :]
                    blob = pickle.dumps(state, pickle.HIGHEST_PROTOCOL)
                    bind.execute(jobs.update().where(jobs.c.id == job_id).values(job_state=blob))


def upgrade() -> None:
    _rewrite(MOVES)


def downgrade() -> None:
    _rewrite({new: old for old, new in MOVES.items()})
