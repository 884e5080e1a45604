"""Domain errors of the core, and the error ids that tie a reply to its log line."""

from __future__ import annotations

import secrets


class StoreDown(Exception):
    """The database cannot be reached."""


def error_id() -> str:
    return secrets.token_hex(4)
