"""Domain errors of the core, and the error ids that tie a reply to its log line."""

from __future__ import annotations

import secrets


class StoreDown(Exception):
    """The database cannot be reached."""


class Rejected(Exception):
    """Bad input: `code` goes to the database, `text` to the user."""

    def __init__(self, code: str, text: str):
        super().__init__(code)
        self.code, self.text = code, text


def error_id() -> str:
    return secrets.token_hex(4)
