"""Model directories: model.safetensors + model.json, written atomically, verified on load."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from engine.model import CharLSTM, ModelConfig
from engine.vocab import Vocab

WEIGHTS, META, LINES = "model.safetensors", "model.json", "corpus_lines.safetensors"
PLAN = "plan.json"  # the planner's data (engine.outline), built by `acrostic plan build`
FORMAT = 1


class ModelDirError(ValueError):
    """A model directory that is missing, incomplete or inconsistent."""


@dataclass
class LoadedModel:
    model: CharLSTM
    vocab: Vocab
    meta: dict
    path: Path
    line_hashes: torch.Tensor | None = None  # sorted corpus line hashes (novelty guard)
    plan_data: dict | None = None  # plan.json: lexicon and corpus statistics for the planner

    @property
    def version(self) -> str:
        return self.meta.get("version", self.path.name)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (so a rename in it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_model_dir(
    path: Path,
    model: CharLSTM,
    vocab: Vocab,
    meta: dict,
    dtype: torch.dtype = torch.float16,
    line_hashes: torch.Tensor | None = None,
    plan_data: dict | None = None,
) -> Path:
    """Write a complete model directory next to `path`, then swap it into place. Files beside
    the model at `path` (package data, plan.json) are kept unless `plan_data` replaces it."""
    with atomic_directory(path) as tmp:
        _keep_package_data(path, tmp)
        if plan_data is not None:
            (tmp / PLAN).write_text(
                json.dumps(plan_data, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
                encoding="utf-8",
            )
        tensors = {
            k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()
        }
        save_file(tensors, str(tmp / WEIGHTS))
        if line_hashes is not None:  # 32-bit hashes stored as int32, shifted to keep the order
            shifted = (line_hashes.to(torch.int64) - 2**31).to(torch.int32)
            save_file({"hashes": shifted.contiguous()}, str(tmp / LINES))
        full = {
            **meta,
            "format": FORMAT,
            "config": model.cfg.to_dict(),
            "vocab_digest": vocab.digest(),
            "weights_sha256": _sha256(tmp / WEIGHTS),
            "lines_sha256": _sha256(tmp / LINES) if line_hashes is not None else None,
            "plan_sha256": _sha256(tmp / PLAN) if (tmp / PLAN).exists() else None,
            "vocab": vocab.tokens,
        }
        (tmp / META).write_text(
            json.dumps(full, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
    return path


def _keep_package_data(old: Path, new: Path) -> None:
    """Carry the files beside the model (the shipped heads and rhyme table) into its rewrite."""
    if not old.is_dir():
        return
    for child in old.iterdir():
        if child.is_file() and child.name not in (WEIGHTS, META, LINES):
            shutil.copy2(child, new / child.name)


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a scratch directory; on success its files are synced and it replaces `path`.

    A crash at any point leaves either the old directory or the new one, never a mix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        for child in tmp.iterdir():
            child.chmod(0o644)
            fsync_path(child)
        tmp.chmod(0o755)
        _swap_into_place(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap_into_place(tmp: Path, path: Path) -> None:
    """Rename tmp → path; an existing directory is moved aside first and removed after."""
    if not path.exists():
        os.rename(tmp, path)
        return
    old = path.parent / f".{path.name}.{os.getpid()}.old"
    os.rename(path, old)
    os.rename(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def read_meta(path: Path) -> dict:
    """model.json of a model directory (no weights are read)."""
    meta_path = Path(path) / META
    try:
        return json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ModelDirError(f"{path}: not a model directory (no {META})") from e
    except json.JSONDecodeError as e:
        raise ModelDirError(f"{meta_path}: not valid JSON ({e})") from e


def load_model_dir(path: Path) -> LoadedModel:
    """Load and verify a model directory; raise ModelDirError with a clear reason if it is bad."""
    path = Path(path)
    meta = read_meta(path)
    weights = path / WEIGHTS
    if not weights.exists():
        raise ModelDirError(f"{path}: {WEIGHTS} is missing")
    if meta.get("weights_sha256") and _sha256(weights) != meta["weights_sha256"]:
        raise ModelDirError(f"{path}: {WEIGHTS} does not match the checksum in {META}")
    try:
        vocab = Vocab(meta["vocab"])
        cfg = ModelConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelDirError(f"{path}: bad config or vocabulary in {META} ({e})") from e
    if vocab.digest() != meta.get("vocab_digest", vocab.digest()) or len(vocab) != cfg.vocab_size:
        raise ModelDirError(f"{path}: vocabulary does not match the model config")
    model = CharLSTM(cfg)
    tensors = load_file(str(weights))
    expected = model.state_dict()
    bad = [k for k in expected if k not in tensors or tensors[k].shape != expected[k].shape]
    if bad or set(tensors) - set(expected):
        raise ModelDirError(
            f"{path}: weights do not fit the config (e.g. {(bad or ['extra'])[0]})"
        )
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    model.eval()
    return LoadedModel(model, vocab, meta, path, _load_lines(path, meta), _load_plan(path, meta))


def _load_lines(path: Path, meta: dict) -> torch.Tensor | None:
    if not meta.get("lines_sha256"):
        return None
    lines = path / LINES
    if not lines.exists() or _sha256(lines) != meta["lines_sha256"]:
        raise ModelDirError(f"{path}: {LINES} is missing or does not match {META}")
    return load_file(str(lines))["hashes"].to(torch.int64) + 2**31


def _load_plan(path: Path, meta: dict) -> dict | None:
    if not meta.get("plan_sha256"):
        return None
    plan = path / PLAN
    if not plan.exists() or _sha256(plan) != meta["plan_sha256"]:
        raise ModelDirError(f"{path}: {PLAN} is missing or does not match {META}")
    return json.loads(plan.read_text(encoding="utf-8"))


DERIVED = {"config", "vocab", "vocab_digest", "weights_sha256", "lines_sha256", "plan_sha256",
           "format"}  # fmt: skip


def resave(
    loaded: LoadedModel,
    meta_updates: dict,
    line_hashes: torch.Tensor | None = None,
    plan_data: dict | None = None,
) -> Path:
    """Rewrite a loaded model directory in place with updated metadata (and/or line hashes,
    plan data)."""
    meta = {k: v for k, v in loaded.meta.items() if k not in DERIVED}
    meta.update(meta_updates)
    hashes = line_hashes if line_hashes is not None else loaded.line_hashes
    return save_model_dir(
        loaded.path, loaded.model, loaded.vocab, meta, line_hashes=hashes, plan_data=plan_data
    )
