"""What `pip install cangtou[qq]` installs: the wheel's packages, the QQ plugin under its import
name (and its folder not a second time), the shipped model's data, the qq extra."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from tests import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel built from a copy of the source (a build leaves build/ where it runs)."""
    source, out = tmp_path_factory.mktemp("src") / "cangtou", tmp_path_factory.mktemp("wheel")
    skip = shutil.ignore_patterns(".*", "data", "runs", "build", "docs", "tests", "*.egg-info",
                                  "__pycache__")  # fmt: skip
    shutil.copytree(REPO_ROOT, source, ignore=skip)
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    (path,) = out.glob("cangtou-*.whl")
    with zipfile.ZipFile(path) as z:
        return set(z.namelist())


def test_the_wheel_holds_the_qq_plugin_once_under_its_import_name(wheel):
    plugin = {n for n in wheel if n.startswith("nonebot_plugin_cangtou/")}
    assert {"nonebot_plugin_cangtou/__init__.py", "nonebot_plugin_cangtou/matchers.py"} <= plugin
    assert not [n for n in wheel if n.startswith("bot/adapters/qq/")]
    assert "bot/adapters/onebot_server.py" in wheel and "bot/chat/dispatch.py" in wheel


def test_the_wheel_holds_the_shipped_model_and_the_migrations(wheel):
    assert {"engine/shipped/model.safetensors", "engine/shipped/plan.json"} <= wheel
    assert "migrations/versions/0007_sent_messages.py" in wheel


def test_the_qq_extra_names_nonebot_and_the_onebot_adapter(wheel):
    from importlib.metadata import metadata

    requires = metadata("cangtou").get_all("Requires-Dist")
    qq = [r for r in requires if 'extra == "qq"' in r]
    assert any(r.startswith("nonebot2[fastapi]") for r in qq)
    assert any(r.startswith("nonebot-adapter-onebot") for r in qq)
