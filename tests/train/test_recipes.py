"""The Makefile's v2 training recipes (CPU and lent-GPU) run end to end on CPU with tiny settings,
so a lent GPU can go straight to the real run."""

import json
import os
import shlex
import subprocess
import sys

import pytest

from tests.test_fresh_clone import makefile_recipe

pytestmark = pytest.mark.unit


def _tiny(command: str, corpus, out, init) -> list[str]:
    """A recipe command pointed at the fixture corpus and tiny model, stopped after 3 steps."""
    args = shlex.split(command)[1:]  # drop "acrostic"
    swap = {"--corpus": str(corpus), "--out": str(out), "--model": str(out),
            "--init-from": str(init), "--device": "cpu", "--max-minutes": "5"}  # fmt: skip
    args = [swap.get(args[i - 1], a) if i else a for i, a in enumerate(args)]
    if args[0] == "train":
        args = [a for a in args if a != "$(RESUME)"] + ["--max-steps", "3", "--eval-minutes", "1"]
    if args[0] == "cliches":
        args += ["--heads", "6", "--theme-rounds", "1"]
    return args


@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.parametrize("target", ["train-v2", "train-gpu"])
def test_the_v2_recipe_runs_on_cpu_with_tiny_settings(target, corpus_dir, tmp_path, trained):
    _, init, _ = trained
    out = tmp_path / "v2"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    commands = makefile_recipe(target)
    assert [c.split()[:2] for c in commands] == [["acrostic", "train"], ["acrostic", "cliches"]]
    for command in commands:
        args = _tiny(command, corpus_dir, out, init)
        res = subprocess.run(
            [sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env
        )
        assert res.returncode == 0, (args, res.stderr[-2000:])
    meta = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert meta["parent"] == init.name and meta["vocab"][-1] == "<sep>"
    assert meta["metrics"]["test_nats_per_char"] > 0 and "ngrams" in meta["cliches"]
    assert meta["cliches"]["theme_rounds"] == 1  # the fixture corpus has titles
