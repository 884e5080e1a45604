"""Settings come from the environment (CANGTOU_…, nested with __); bad ones are clear errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.base.settings import DEFAULT_DATABASE_URL, Settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("DATABASE_URL", "CANGTOU_DATABASE_URL", "CANGTOU_ADMINS"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_need_nothing():
    settings = Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.telegram.token is None and settings.discord.token is None
    assert settings.telegram.mode == "polling" and settings.limits.workers >= 1


def test_environment_nested_and_secret(monkeypatch):
    monkeypatch.setenv("CANGTOU_TELEGRAM__TOKEN", "123:abc")
    monkeypatch.setenv("CANGTOU_TELEGRAM__BASE_URL", "http://127.0.0.1:9/bot")
    monkeypatch.setenv("CANGTOU_DISCORD__TOKEN", "d1")
    monkeypatch.setenv("CANGTOU_ADMINS", "telegram:1, discord:2")
    monkeypatch.setenv("CANGTOU_LIMITS__USER_BURST", "7")
    settings = Settings()
    assert settings.telegram.token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(settings)  # tokens never show up in logs
    assert settings.telegram.base_url == "http://127.0.0.1:9/bot"
    assert settings.is_admin("telegram", "1") and settings.is_admin("discord", "2")
    assert not settings.is_admin("telegram", "2") and settings.limits.user_burst == 7


def test_database_url_from_either_variable(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://a@h/db")
    assert Settings().database_url == "postgresql://a@h/db"
    monkeypatch.setenv("CANGTOU_DATABASE_URL", "sqlite:///x.db")
    assert Settings().database_url == "sqlite:///x.db"  # the prefixed one wins


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text("CANGTOU_BEAM_SIZE=4\n")
    assert Settings().beam_size == 4


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CANGTOU_ADMINS", "alice", "telegram:123"),
        ("CANGTOU_TELEGRAM__MODE", "carrier-pigeon", "polling"),
        ("CANGTOU_LIMITS__WORKERS", "0", "greater than or equal to 1"),
        ("CANGTOU_TELEGRAM__ENABLED", "true", "telegram is enabled but CANGTOU_TELEGRAM__TOKEN"),
        ("CANGTOU_DISCORD__ENABLED", "true", "discord is enabled but CANGTOU_DISCORD__TOKEN"),
        ("CANGTOU_REPLICA_ID", "Replica A", "pattern"),
        ("CANGTOU_RETRAIN__TIME", "3am", "pattern"),
    ],
)
def test_bad_settings_are_clear_errors(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_webhook_mode_needs_a_public_url(monkeypatch):
    monkeypatch.setenv("CANGTOU_TELEGRAM__TOKEN", "1:a")
    monkeypatch.setenv("CANGTOU_TELEGRAM__MODE", "webhook")
    with pytest.raises(ValidationError, match="WEBHOOK_URL"):
        Settings()


def test_sharding_settings(monkeypatch):
    monkeypatch.setenv("CANGTOU_DISCORD__TOKEN", "d")
    monkeypatch.setenv("CANGTOU_DISCORD__SHARD_COUNT", "4")
    monkeypatch.setenv("CANGTOU_DISCORD__SHARD_IDS", "[1, 3]")
    assert Settings().discord.shard_ids == [1, 3]
    monkeypatch.setenv("CANGTOU_DISCORD__SHARD_IDS", "[4]")
    with pytest.raises(ValidationError, match="below it"):
        Settings()


@pytest.mark.slow
def test_an_enabled_adapter_without_a_token_stops_acrostic_run(monkeypatch, tmp_path):
    import subprocess
    import sys

    env = {"CANGTOU_TELEGRAM__ENABLED": "true", "CANGTOU_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    res = subprocess.run([sys.executable, "-m", "bot.cli", "run"], capture_output=True,
                         text=True, env=env, timeout=60)  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "telegram is enabled but CANGTOU_TELEGRAM__TOKEN is not set" in res.stderr


@pytest.mark.parametrize(("secret", "message"), [(None, "WEBHOOK_SECRET"), ("a b", "A-Z a-z")])
def test_webhook_mode_needs_a_well_formed_secret(monkeypatch, secret, message):
    monkeypatch.setenv("CANGTOU_TELEGRAM__TOKEN", "1:a")
    monkeypatch.setenv("CANGTOU_TELEGRAM__MODE", "webhook")
    monkeypatch.setenv("CANGTOU_TELEGRAM__WEBHOOK_URL", "https://bot.example/telegram")
    if secret:
        monkeypatch.setenv("CANGTOU_TELEGRAM__WEBHOOK_SECRET", secret)
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    ("env", "message"),
    [({"CANGTOU_ONEBOT__ENABLED": "true"}, "CANGTOU_ONEBOT__ACCESS_TOKEN is not set"),
     ({"CANGTOU_ONEBOT__ACCESS_TOKEN": "short"}, "16–256 visible ASCII"),
     ({"CANGTOU_ONEBOT__ACCESS_TOKEN": "with a space in it, long enough"}, "no spaces")],
)  # fmt: skip
def test_qq_needs_a_well_formed_access_token(monkeypatch, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None)


def test_an_access_token_turns_qq_on_and_is_kept_out_of_the_logs(monkeypatch):
    assert not Settings(_env_file=None).qq_on
    monkeypatch.setenv("CANGTOU_ONEBOT__ACCESS_TOKEN", "a-good-token-0123456789")
    settings = Settings(_env_file=None)
    assert settings.qq_on and (settings.onebot.host, settings.onebot.port) == ("127.0.0.1", 8080)
    assert "a-good-token-0123456789" in settings.secret_values()
    monkeypatch.setenv("CANGTOU_ONEBOT__ENABLED", "false")
    assert not Settings(_env_file=None).qq_on
