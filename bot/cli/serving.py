"""The bot's commands on the `acrostic` command line: chat, run, db."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

db_app = typer.Typer(help="The database: migrations and what is stored.", no_args_is_help=True)


def _settings():
    import faulthandler

    from pydantic import ValidationError

    from bot.base.settings import get_settings

    faulthandler.enable()  # a crash in C code (SIGSEGV, SIGBUS) prints where, never silently
    try:
        settings = get_settings()
    except ValidationError as e:
        errors = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        typer.echo(f"error: bad settings: {errors}", err=True)
        raise typer.Exit(2) from None
    if settings.card_font:  # a font that is not one fails here, not at the first card
        from bot.cards.fonts import FontNotFound, find_font

        try:
            find_font(settings.card_font)
        except FontNotFound as e:
            typer.echo(f"error: bad settings: card_font: {e}", err=True)
            raise typer.Exit(2) from None
    return settings


def chat(
    command: Annotated[
        list[str] | None,
        typer.Option("-c", "--command", help="Run this command and exit (repeatable)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log to stderr.")] = False,
) -> None:
    """A local chat with the bot: the same commands as Telegram and Discord, no tokens."""
    from bot.adapters.console_adapter import repl, run_commands
    from bot.base.logs import setup_logging
    from bot.runtime.app import build_core, build_runtime

    settings = _settings()
    setup_logging("INFO" if verbose else "WARNING", secrets=settings.secret_values())
    runtime = build_runtime(settings, build_core(settings, processes=False))  # admin commands
    core = runtime.core

    async def main():
        try:
            await (run_commands(core, command) if command else repl(core))
            if core.admin.background:  # a /retrain started here: see it through
                typer.echo("（等待重新训练结束……）", err=True)
                await asyncio.gather(*core.admin.background)
        finally:
            await core.close()
            core.db.dispose()

    asyncio.run(main())


def run(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Start every adapter whose token is configured (Telegram, Discord, QQ) until Ctrl-C."""
    from bot.base.logs import setup_logging
    from bot.runtime.runner import BadToken, NoAdapters, serve

    settings = _settings()
    level = "DEBUG" if verbose else settings.log_level
    setup_logging(level, settings.log_format, secrets=settings.secret_values())
    try:
        asyncio.run(serve(settings))
    except (NoAdapters, BadToken) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the Alembic migrations (the only way the schema changes)."""
    from bot.store.session import current_revision, upgrade

    url = _settings().database_url
    upgrade(url, revision)
    typer.echo(f"database at revision {current_revision(url)}")


@db_app.command("requests")
def db_requests(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Show the newest stored poem requests with their ratings (ids in base 36, as in chat)."""
    from bot.chat.parsing import to_base36
    from bot.store import queries
    from bot.store.session import Database

    db = Database(_settings().database_url)
    with db.session() as session:
        for row in queries.recent_requests(session, limit):
            summary = queries.rating_summary(session, row.id)
            record = {
                "id": to_base36(row.id),  # what /poem, /rate and /again take
                "created_at": row.created_at.isoformat(timespec="seconds"),
                "status": row.status.value,
                "error_code": row.error_code,
                "head": row.head,
                "options": row.options,
                "poem": row.poem,
                "model_version": row.model_version,
                "seed": row.seed,
                "latency_ms": row.latency_ms,
                "ratings": summary.count,
                "mean_stars": round(summary.mean, 2),
            }
            typer.echo(json.dumps(record, ensure_ascii=False) if as_json else _pretty(record))
    db.dispose()


def _pretty(record: dict) -> str:
    head = f"#{record['id']} {record['created_at']} {record['status']}"
    if record["error_code"]:
        return f"{head} ({record['error_code']})"
    return (
        f"{head} 《{record['head']}》 {record['poem']}\n"
        f"    model {record['model_version']}, {record['latency_ms']} ms, "
        f"{record['ratings']} ratings, mean {record['mean_stars']}★, options {record['options']}"
    )


models_app = typer.Typer(help="Model versions: list, promote, roll back.", no_args_is_help=True)


def _registry_and_db():
    from bot.serving.registry import Registry
    from bot.store.session import Database, upgrade

    settings = _settings()
    if settings.auto_migrate:
        upgrade(settings.database_url)
    return (
        settings,
        Registry(settings.models_dir, settings.model_dir),
        Database(settings.database_url),
    )


@models_app.command("list")
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every model version: on disk and in the database, the current one marked."""
    from bot.operations.admin import versions

    _, registry, db = _registry_and_db()
    for item in versions(db, registry):
        if as_json:
            typer.echo(json.dumps(item, ensure_ascii=False))
        else:
            mark = "*" if item["current"] else " "
            nats = item["test_nats_per_char"]
            typer.echo(
                f"{mark} {item['version']:<36} {item['status']:<11} "
                f"test {nats if nats is not None else '—':<7} parent {item['parent'] or '—'}"
                f"  {item['promoted_at'] or ''} {item['reason']}".rstrip()
            )
    db.dispose()


@models_app.command("promote")
def models_promote(version: Annotated[str, typer.Argument(help="A version from `list`.")]) -> None:
    """Validate VERSION and serve it (running bots follow within a request)."""
    from bot.operations.admin import AdminError, promote

    _, registry, db = _registry_and_db()
    try:
        old = promote(db, registry, version, "promoted from the command line")
    except AdminError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"serving {version} (was {old})")


@models_app.command("rollback")
def models_rollback() -> None:
    """Serve the version that was current before this one."""
    from bot.operations.admin import AdminError, rollback

    _, registry, db = _registry_and_db()
    try:
        old, new = rollback(db, registry)
    except AdminError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"rolled back: {old} → {new}")


def retrain(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = True,
) -> None:
    """Retrain now, in the foreground: rated poems in, candidate judged, promoted or not."""
    from bot.base.logs import setup_logging
    from bot.runtime.app import build_core, build_runtime

    settings = _settings()
    setup_logging("INFO" if verbose else "WARNING", secrets=settings.secret_values())
    if not (settings.retrain.corpus_dir / "train.txt").exists():
        typer.echo(
            f"error: no corpus in {settings.retrain.corpus_dir}: run "
            f"`acrostic corpus build --out {settings.retrain.corpus_dir}` first", err=True,
        )  # fmt: skip
        raise typer.Exit(2)
    runtime = build_runtime(settings, build_core(settings, processes=False))

    async def main():
        try:
            return await runtime.retrainer.run(trigger="cli")
        finally:
            await runtime.core.close()

    outcome = asyncio.run(main())
    typer.echo(f"run {outcome.run_id}: {outcome.status} — {outcome.decision}")
    if outcome.status == "failed":
        raise typer.Exit(1)
