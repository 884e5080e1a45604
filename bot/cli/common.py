"""What every `acrostic` command group shares: the one-line failure, logging, default paths."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import typer

# package data of the engine (engine/shipped/heads.txt), found without importing torch
PUBLIC_HEADS = Path(__file__).resolve().parents[2] / "engine" / "shipped" / "heads.txt"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cangtou"


def fail(message: str) -> None:
    """One clear line on stderr and exit code 2 (usage error), never a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
