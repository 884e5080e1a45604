"""All configuration of the bot, read once from the environment (prefix CANGTOU_, nested with __)."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from train.retrain_options import RetrainKnobs

DEFAULT_DATABASE_URL = "sqlite:///data/cangtou.db"


def known_timezone(name: str) -> str:
    """An IANA timezone this machine knows (checked at start, not when a job first runs)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r} (an IANA name such as Asia/Shanghai)"
        ) from None
    return name


class TelegramSettings(BaseModel):
    enabled: bool | None = None  # None: on when a token is set; True without a token: an error
    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"  # a local Bot API server works too
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None  # public https URL Telegram posts to (webhook mode)
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_path: str = "telegram"
    webhook_secret: SecretStr | None = None  # 1–256 of A-Z a-z 0-9 _ - (Telegram's rule)

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> TelegramSettings:
        if self.enabled and self.token is None:
            raise ValueError("telegram is enabled but CANGTOU_TELEGRAM__TOKEN is not set")
        if self.token and self.mode == "webhook" and not self.webhook_url:
            raise ValueError("telegram.mode=webhook needs CANGTOU_TELEGRAM__WEBHOOK_URL")
        if self.token and self.mode == "webhook" and not self.webhook_secret:
            # without it anyone who finds the URL can post updates, admin commands included
            raise ValueError("telegram.mode=webhook needs CANGTOU_TELEGRAM__WEBHOOK_SECRET")
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ValueError("CANGTOU_TELEGRAM__WEBHOOK_SECRET: 1–256 of A-Z a-z 0-9 _ -")
        return self


class DiscordSettings(BaseModel):
    enabled: bool | None = None  # None: on when a token is set; True without a token: an error
    token: SecretStr | None = None
    shard_count: int | None = Field(None, ge=1)  # several replicas: each runs some shards
    shard_ids: list[int] | None = None  # the shards this replica runs (default: all)
    api_base: str | None = None  # only for tests against a local fake server
    gateway_url: str | None = None
    sync_commands: bool = True

    @model_validator(mode="after")
    def _check(self) -> DiscordSettings:
        if self.enabled and self.token is None:
            raise ValueError("discord is enabled but CANGTOU_DISCORD__TOKEN is not set")
        if self.shard_ids and (
            self.shard_count is None or max(self.shard_ids) >= self.shard_count
        ):
            raise ValueError("discord.shard_ids need shard_count, and each must be below it")
        return self


class OneBotSettings(BaseModel):
    """QQ through OneBot v11 in stand-alone mode (`acrostic run`): NoneBot2 serves the reverse
    WebSocket (ws://HOST:PORT/onebot/v11/ws) that NapCat, LLOneBot or Lagrange connect to. As a
    plugin in another NoneBot2 bot, the host's own settings decide all of this."""

    enabled: bool | None = None  # None: on when an access token is set; True without: an error
    # required: without it anyone who reaches the port speaks as QQ users (admins included)
    access_token: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)

    @model_validator(mode="after")
    def _token_required(self) -> OneBotSettings:
        if self.enabled and self.access_token is None:
            raise ValueError("onebot is enabled but CANGTOU_ONEBOT__ACCESS_TOKEN is not set")
        token = self.access_token.get_secret_value() if self.access_token else ""
        if self.access_token is not None and not re.fullmatch(r"[\x21-\x7e]{16,256}", token):
            raise ValueError(
                "CANGTOU_ONEBOT__ACCESS_TOKEN: 16–256 visible ASCII characters, no spaces"
            )
        return self


class LimitSettings(BaseModel):
    user_per_minute: int = Field(10, ge=1)  # poems per user per minute, bursts of `user_burst`
    user_burst: int = Field(4, ge=1)
    # requests that write no poem (bad heads, over the limits) each stored as a row up to this
    # many a user a minute; beyond it they are counted on the user's last stored refusal
    refusals_per_minute: int = Field(10, ge=1)
    inline_debounce_s: float = Field(0.6, ge=0)  # an inline query answered once it is this old
    chat_per_minute: int = Field(30, ge=1)
    chat_burst: int = Field(10, ge=1)
    queue_size: int = Field(64, ge=1)  # poems waiting for a worker; beyond it: "busy, try later"
    workers: int = Field(default_factory=lambda: min(8, os.cpu_count() or 1), ge=1, le=64)
    processes: bool = True  # generation in worker processes (False: threads in the bot process)
    # True: each worker process runs engine.lockstep over every poem it holds (one model step
    # and one vectorised search step for all). On 2 AMD cores it served 1.9x the poems of one
    # poem at a time per worker (default decoding and beam 8; 2.6x for beam 8 on an Intel CPU
    # with AMX) with 0.6-0.8x the p95 at 50 requests/s; a lone request takes 1.1x (beam 8
    # 0.8x). Poems can differ between the modes (int8 per row). False keeps those worker
    # processes (make bench-bot)
    batching: bool = True
    max_message_chars: int = Field(300, ge=20)


class RetrainSettings(RetrainKnobs):
    """When the nightly retrain runs and what it learns from; how it trains: RetrainKnobs."""

    enabled: bool = True
    time: str = Field("03:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")  # nightly, in `timezone`
    timezone: Annotated[str, AfterValidator(known_timezone)] = "Asia/Shanghai"
    corpus_dir: Path = Path("data/corpus")  # `acrostic corpus build --out data/corpus`
    min_mean: float = Field(4.0, ge=1, le=5)  # rated poems: mean stars at least this …
    min_raters: int = Field(2, ge=1)  # … from at least this many distinct users
    eval_heads: int = Field(111, ge=1)  # public heads the gate writes poems for (all 111)
    keep_rejected: bool = False  # keep servable rejected candidates under models/


class DailySettings(BaseModel):
    timezone: Annotated[str, AfterValidator(known_timezone)] = "Asia/Shanghai"
    default_time: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    sweep_seconds: int = Field(60, ge=1)


class ObservabilitySettings(BaseModel):
    enabled: bool = False  # GET /healthz and /metrics (Prometheus)
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=1, le=65535)


class Settings(BaseSettings):
    """Environment: CANGTOU_DATABASE_URL (or DATABASE_URL), CANGTOU_TELEGRAM__TOKEN, …"""

    model_config = SettingsConfigDict(
        env_prefix="CANGTOU_",
        env_nested_delimiter="__",
        env_file=".env",
        env_ignore_empty=True,  # VAR= in a .env file means "not set": the default applies
        extra="ignore",
    )

    database_url: str = DEFAULT_DATABASE_URL
    auto_migrate: bool = True  # run `alembic upgrade head` when the bot starts
    model_dir: Path | None = None  # served until a version is promoted (None: the shipped one)
    models_dir: Path = Path("data/models")  # model versions and the CURRENT pointer
    admin_chat: str | None = None  # "telegram:<chat id>" (qq:group:<id>): told when a retrain ends
    scheduler: bool = True  # the scheduled jobs (daily posts, nightly retrain) run in this process
    # the poem cards' font file ("path#N": face N of a .ttc); checked when `acrostic run`/`chat`
    # start (bot/cli/serving.py). None: the pip
    # Noto Serif SC, else the system's Noto CJK (bot.cards.fonts.find_font)
    card_font: str | None = None
    replica_id: str = Field("", pattern=r"^[a-z0-9_]{0,32}$")  # unique per replica when several
    admins: Annotated[list[str], NoDecode] = []  # "telegram:123,discord:456"
    console_is_admin: bool = True  # the local console user runs admin commands
    telegram: TelegramSettings = TelegramSettings()
    discord: DiscordSettings = DiscordSettings()
    onebot: OneBotSettings = OneBotSettings()
    limits: LimitSettings = LimitSettings()
    retrain: RetrainSettings = RetrainSettings()
    daily: DailySettings = DailySettings()
    # the first poem of a request: the default search, or plain beam search of beam_size
    decoding: Literal["diverse", "beam"] = "diverse"
    beam_size: int = Field(8, ge=1, le=32)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    observability: ObservabilitySettings = ObservabilitySettings()

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value):
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for item in value:
            platform, _, user = str(item).partition(":")
            if platform not in ("telegram", "discord", "qq", "console") or not user:
                raise ValueError(
                    f"admin {item!r} must look like telegram:123, discord:456 or qq:789"
                )
        return value

    @model_validator(mode="before")
    @classmethod
    def _plain_database_url(cls, data):
        """Accept the conventional DATABASE_URL when CANGTOU_DATABASE_URL is not set."""
        wanted = isinstance(data, dict) and "database_url" not in data
        if wanted and "DATABASE_URL" in os.environ and "CANGTOU_DATABASE_URL" not in os.environ:
            data = {**data, "database_url": os.environ["DATABASE_URL"]}
        return data

    @property
    def telegram_on(self) -> bool:
        return self.telegram.token is not None and self.telegram.enabled is not False

    @property
    def discord_on(self) -> bool:
        return self.discord.token is not None and self.discord.enabled is not False

    @property
    def qq_on(self) -> bool:
        return self.onebot.access_token is not None and self.onebot.enabled is not False

    def secret_values(self) -> list[str]:
        """What the logs must never show (the log filter redacts each)."""
        secrets = (self.telegram.token, self.telegram.webhook_secret, self.discord.token,
                   self.onebot.access_token)  # fmt: skip
        return [s.get_secret_value() for s in secrets if s is not None]

    def is_admin(self, platform: str, user_id: str) -> bool:
        if platform == "console" and self.console_is_admin:
            return True
        return f"{platform}:{user_id}" in self.admins


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings (read once; tests build `Settings(...)` directly)."""
    return Settings()
