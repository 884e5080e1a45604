"""Logging, configured once per process: text or JSON lines, each with the id of the request
being handled (a context variable the core sets), noisy libraries quieted, tokens never logged,
user text unable to forge a line."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import secrets
import time
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import quote

QUIET = ("httpx", "httpcore", "apscheduler", "telegram.ext.Updater", "discord.gateway", "alembic")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# when the request this task is handling arrived (time.monotonic); 0: no request
request_arrived: contextvars.ContextVar[float] = contextvars.ContextVar("arrived", default=0.0)


def new_request_id() -> str:
    """A fresh id for the request this task is handling (logged on every line it causes)."""
    rid = secrets.token_hex(6)
    request_id.set(rid)
    request_arrived.set(time.monotonic())
    return rid


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# bidi and other format characters: they reorder or hide what follows in a terminal or viewer
FORMAT = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]")
REDACTED = "«redacted»"


def escape_controls(text: str) -> str:
    """'a\nb' → 'a\\nb': user text cannot start a line that looks like another record; a bidi
    control (U+202E) is written as U+202E."""
    text = FORMAT.sub(lambda m: f"U+{ord(m.group()):04X}", text)
    return CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class SafeRecordFilter(logging.Filter):
    """On the handler, so it sees every record, third-party libraries' included: the secrets
    (bot tokens, the webhook secret) redacted from message and traceback, and, for text logs,
    control characters in the message escaped (a newline in a refused command would forge a
    record). Tracebacks keep their lines: no user text starts one."""

    def __init__(self, secrets: Iterable[str] = (), escape: bool = True):
        super().__init__()
        variants = {v for s in secrets if s for v in (s, quote(s, safe=""))}
        self.secrets = sorted(variants, key=len, reverse=True)
        self.escape = escape

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.redact(record.getMessage())
        record.msg, record.args = (escape_controls(message) if self.escape else message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "msg": record.getMessage(),
        }
        if record.exc_info or record.exc_text:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def setup_logging(
    level: str | int = "INFO",
    fmt: str = "text",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """One handler on the root logger (stderr unless `stream`); `secrets` never reach it."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(SafeRecordFilter(secrets, escape=fmt != "json"))  # JSON escapes anyway
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
