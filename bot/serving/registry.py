"""Model versions on disk: one directory per version under `models_dir`, and a CURRENT file
naming the one to serve. CURRENT is replaced atomically (write, fsync, rename), so every reader —
this process, another replica on shared storage — sees the old version or the new, never half."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from engine.checkpoint import ModelDirError, fsync_path, load_model_dir, read_meta
from engine.parts import require_servable
from engine.poet import SHIPPED_MODEL

log = logging.getLogger(__name__)
POINTER = "CURRENT"
STAGING = ".staging"


class Registry:
    def __init__(self, root: Path, default: Path | None = None):
        self.root = Path(root)
        self.default = Path(default or SHIPPED_MODEL)  # served until something is promoted

    @property
    def pointer(self) -> Path:
        return self.root / POINTER

    def current_path(self) -> Path:
        """The directory CURRENT names (the default without one). Raises ModelDirError for a
        CURRENT that names no version: a directory, non-UTF-8 bytes, '../x', '.staging'."""
        try:
            version = self.pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return self.default
        except (OSError, UnicodeDecodeError) as e:
            raise ModelDirError(f"{self.pointer} cannot be read: {e}") from e
        return self.path_of(version) if version else self.default

    def current_version(self) -> str:
        return version_of(self.current_path())

    def path_of(self, version: str) -> Path:
        if version == version_of(self.default) and not (self.root / version).exists():
            return self.default
        if not version or "/" in version or "\\" in version or version.startswith("."):
            raise ModelDirError(f"not a model version name: {version!r}")
        return self.root / version

    def versions(self) -> list[str]:
        """Model directories present on disk (staging and hidden ones excluded)."""
        if not self.root.exists():
            return []
        return sorted(
            p.name for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / "model.json").exists()
        )  # fmt: skip

    def newest_first(self) -> list[str]:
        """The versions on disk, newest first by the created_at of their model.json."""

        def created(version: str) -> str:
            try:
                return str(read_meta(self.root / version).get("created_at", ""))
            except (OSError, ValueError, ModelDirError):
                return ""

        return sorted(self.versions(), key=created, reverse=True)

    def staging_dir(self, name: str) -> Path:
        """Where a candidate is trained: never served, cleaned up by the next run."""
        path = self.root / STAGING / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def clean_staging(self) -> None:
        shutil.rmtree(self.root / STAGING, ignore_errors=True)

    def adopt(self, staged: Path, version: str) -> Path:
        """Move a finished candidate into place (a rename within one filesystem)."""
        target = self.path_of(version)
        if target.exists():
            raise ModelDirError(f"model version {version} already exists")
        load_model_dir(staged)  # validates before it becomes visible
        require_servable(staged)  # and holds every part the default search reads
        os.replace(staged, target)
        return target

    def set_current(self, version: str) -> Path:
        """Validate `version`, then point CURRENT at it atomically. Raises ModelDirError for a
        directory that fails validation or lacks a part (engine.parts); CURRENT is then left as
        it was."""
        path = self.path_of(version)
        load_model_dir(path)  # missing file, wrong checksum or vocabulary hash, bad shapes
        require_servable(path)  # a part missing (the clichés, the line index …)
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.root, delete=False, suffix=".tmp") as f:
            f.write(version + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(f.name, self.pointer)
        fsync_path(self.root)
        log.info("CURRENT → %s", version)
        return path


def version_of(path: Path) -> str:
    try:
        return read_meta(path).get("version", path.name)
    except (OSError, ValueError, ModelDirError):
        return path.name
