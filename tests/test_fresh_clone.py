"""A fresh clone has everything the README and the docs pages use: every repository path they
name is tracked."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests import REPO_ROOT

pytestmark = pytest.mark.unit

ROOT = REPO_ROOT
PATH = re.compile(r"(?<![\w.~/:-])((?:[\w.-]+/)+[\w.*{},-]*)")
MODULE = re.compile(r"-m ((?:\w+\.)+\w+)")
LAYOUT_DIR = re.compile(r"^(\w+)/\s")  # "bot/      cli.py — …" in the layout sketch
LAYOUT_SUB = re.compile(r"^\s+(\w+)/\s")  # "  chat/   core.py …": a folder of the one above
PY_FILE = re.compile(r"\b(\w+\.py)\b")


def tracked() -> set[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {name for name in out.split("\0") if name}


def named_paths(readme: str, top_level: set[str]) -> set[str]:
    """Paths in the repository that the README names in code or links: slashed names under a
    tracked top-level entry, modules run with `-m`, and the files listed under each directory
    of the layout sketch."""
    code = re.findall(r"```.*?```|`[^`\n]+`", readme, re.DOTALL)
    code += re.findall(r"\]\(([^)\s]+)\)", readme)  # link targets
    names = {m.group(1) for m in PATH.finditer("\n".join(code))}
    names = {n for n in names if n.split("/", 1)[0] in top_level}
    names |= {m.group(1).replace(".", "/") + ".py" for m in MODULE.finditer(readme)}
    top = directory = None
    for line in readme.splitlines():
        if match := LAYOUT_DIR.match(line):
            top = directory = match.group(1)
        elif top and (sub := LAYOUT_SUB.match(line)):
            directory = f"{top}/{sub.group(1)}"
        elif not line.startswith(" "):
            top = directory = None  # a continuation line is indented; anything else ends it
        if directory:
            names |= {f"{directory}/{f}" for f in PY_FILE.findall(line.split("—")[0])}
    return names


def front_door() -> str:
    """The README and the docs pages it links, one text."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n\n".join(p.read_text(encoding="utf-8") for p in pages)


def test_every_repository_path_the_readme_names_is_tracked():
    files = tracked()
    top_level = {name.split("/", 1)[0] for name in files}
    readme = front_door()
    names = named_paths(readme, top_level)
    assert "engine/shipped/heads.txt" in names and "bot/chat/core.py" in names  # the parser works
    missing = sorted(
        n for n in names if n.rstrip("/") not in files
        and n.removesuffix(".py") + "/__main__.py" not in files  # `-m` runs a package
        and not any(f.startswith(n.rstrip("/") + "/") for f in files)
    )  # fmt: skip
    assert missing == [], f"README names paths a fresh clone lacks: {missing}"


def test_nested_data_directories_are_not_ignored():
    """Only the top-level data/ (the SQLite file, the corpus) is ignored, not tests/data/."""

    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0

    assert not ignored("tests/data/heads.txt") and not ignored("engine/shipped/data/x")
    assert ignored("data/cangtou.db")


def test_the_retrain_gate_and_eval_read_the_shipped_public_heads():
    from bot.cli import PUBLIC_HEADS
    from bot.operations.retrain_inputs import HEADS_FILE, eval_heads

    assert PUBLIC_HEADS == HEADS_FILE and HEADS_FILE.is_relative_to(ROOT / "engine" / "shipped")
    heads = eval_heads(30)
    assert (
        len(heads) == 30 and heads[0] == "算法进阶" and not any(h.startswith("#") for h in heads)
    )
    assert len(eval_heads(1000)) == 111


def test_the_bot_benchmark_finds_its_heads():
    from tests.bench.bench_bot import heads

    assert len(heads()) == 111


@pytest.mark.slow
def test_eval_runs_with_its_default_heads_from_any_directory(tmp_path, tiny_model_dir, corpus_dir):
    from tests.bot.cli.test_serving import run

    args = ("eval", "--model", str(tiny_model_dir), "--corpus", str(corpus_dir), "--n", "2")
    res = run(*args, "--out", str(tmp_path / "report"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "report" / "report.json").exists()


def test_the_readme_benchmark_says_how_long_each_measurement_ran():
    readme = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    bench = readme.split("## Benchmarks")[1].split("### The bot under load")[0]
    (seconds,) = re.findall(r"(\d+) s each", bench)
    source = (ROOT / "tests" / "bench" / "bench_engine.py").read_text(encoding="utf-8")
    default = re.search(r'"--seconds", type=float, default=([\d.]+)', source).group(1)
    assert float(seconds) == float(default) or f"`--seconds {seconds}`" in bench


def makefile_recipe(target: str) -> list[str]:
    """The commands of a Makefile target, continuation lines joined, := variables expanded."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    variables = dict(re.findall(r"^(\w+) :?= (.*)$", text, re.MULTILINE))
    recipe = text.split(f"\n{target}:")[1].split("\n\n")[0].splitlines()[1:]
    commands = []
    for line in recipe:
        line = line.replace("$(BIN)/", "")
        for name, value in variables.items():
            line = line.replace(f"$({name})", value.strip())
        commands.append(" ".join(line.split()))
    return commands


def test_make_train_runs_every_command_the_readme_says_it_does():
    readme = (ROOT / "docs" / "poems.md").read_text(encoding="utf-8")
    block = readme.split("\nmake train")[1].split("```")[0]
    said = re.sub(r"\([^)]*\)|[#=\\]", " ", block)
    said = [" ".join(part.split()) for part in said.split(" then ")]
    assert len(said) >= 2 and all(c.startswith("acrostic ") for c in said), said
    recipe = [set(c.split()) for c in makefile_recipe("train")]
    for command in said:
        assert any(set(command.split()) <= run for run in recipe), (command, recipe)


def test_the_readme_is_read_in_five_minutes():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250
    for page in ("poems.md", "production.md", "performance.md", "architecture.md"):
        assert f"docs/{page}" in "\n".join(lines), page  # linked from the front door


def test_the_readme_tells_both_ways_to_run_qq():
    """Issue 32: a QQ section beside Telegram and Discord, the plugin and the stand-alone way."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### QQ groups") :].split("\n## ", 1)[0]
    for needed in ('pip install "cangtou[qq]"', 'load_plugin("nonebot_plugin_cangtou")',
                   "CANGTOU_ONEBOT__ACCESS_TOKEN", "acrostic run", "/onebot/v11/ws"):  # fmt: skip
        assert needed in section, needed
