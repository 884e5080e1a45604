"""Model directories: no pickle anywhere, verification on load, atomic replacement."""

import json
import re
import shutil

import pytest
import torch

from engine import Poet
from engine.checkpoint import ModelDirError, load_model_dir, save_model_dir
from tests import REPO_ROOT

pytestmark = pytest.mark.unit

ROOT = REPO_ROOT


def test_no_code_uses_torch_load_or_pickle():
    offenders = []
    for path in [
        *ROOT.glob("engine/**/*.py"),
        *ROOT.glob("train/**/*.py"),
        *ROOT.glob("bot/**/*.py"),
    ]:
        text = path.read_text()
        if re.search(r"torch\.load\(|import pickle|torch\.save\(", text):
            offenders.append(str(path))
    assert offenders == []


def test_loading_never_calls_torch_load(tiny_model_dir, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("torch.load used on a model file")

    monkeypatch.setattr(torch, "load", forbidden)
    assert Poet.load(tiny_model_dir).acrostic("春风").lines


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, dst)
    return dst


def test_missing_weights_are_refused(model_copy):
    (model_copy / "model.safetensors").unlink()
    with pytest.raises(ModelDirError, match="missing"):
        load_model_dir(model_copy)


def test_corrupted_weights_are_refused(model_copy):
    with (model_copy / "model.safetensors").open("r+b") as f:
        f.seek(-4, 2)
        f.write(b"\0\0\0\0")
    with pytest.raises(ModelDirError, match="checksum"):
        load_model_dir(model_copy)


def test_a_vocabulary_that_does_not_fit_is_refused(model_copy):
    meta = json.loads((model_copy / "model.json").read_text())
    meta["vocab"].append("龘")
    (model_copy / "model.json").write_text(json.dumps(meta, ensure_ascii=False))
    with pytest.raises(ModelDirError, match="vocabulary"):
        load_model_dir(model_copy)


def test_not_a_model_directory(tmp_path):
    with pytest.raises(ModelDirError, match="not a model directory"):
        load_model_dir(tmp_path)


def test_save_replaces_atomically_and_a_failed_save_keeps_the_old_model(model_copy, monkeypatch):
    loaded = load_model_dir(model_copy)
    before = (model_copy / "model.json").read_text()
    monkeypatch.setattr(
        "engine.checkpoint.save_file", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full"))
    )
    with pytest.raises(OSError):
        save_model_dir(model_copy, loaded.model, loaded.vocab, {"version": "broken"})
    assert (model_copy / "model.json").read_text() == before
    assert not list(model_copy.parent.glob(".*tmp"))
    load_model_dir(model_copy)


def test_rewriting_a_model_directory_keeps_the_files_beside_the_model(tiny_model_dir, tmp_path):
    import shutil

    from engine.checkpoint import load_model_dir, resave

    copy = tmp_path / "shipped"
    shutil.copytree(tiny_model_dir, copy)
    (copy / "heads.txt").write_text("春风\n", encoding="utf-8")
    resave(load_model_dir(copy), {"note": "rewritten"})
    assert (copy / "heads.txt").read_text(encoding="utf-8") == "春风\n"
    assert load_model_dir(copy).meta["note"] == "rewritten"


def test_the_shipped_model_is_servable_and_a_partial_directory_is_not(tmp_path):
    import shutil

    from engine.parts import PARTS, missing_parts, require_servable
    from engine.poet import SHIPPED_MODEL

    require_servable(SHIPPED_MODEL)  # every part of the one list
    assert {p.name for p in PARTS} >= {
        "weights",
        "line index",
        "theme framing",
        "cliches",
        "plan data",
    }
    partial = tmp_path / "partial"
    shutil.copytree(SHIPPED_MODEL, partial)
    (partial / "corpus_lines.safetensors").unlink()
    assert missing_parts(partial) == ["line index"]
    with pytest.raises(ModelDirError, match="partial cannot be served: it has no line index"):
        require_servable(partial)
    assert missing_parts(tmp_path / "nothing") == [p.name for p in PARTS]
