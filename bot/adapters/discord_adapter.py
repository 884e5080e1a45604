"""The Discord adapter (discord.py 2.7): slash commands and restart-safe ★/🔄/🖼 buttons over the core."""

from __future__ import annotations

import io
import logging
import re

import discord
from discord import app_commands

from bot.base import messages
from bot.base.errors import error_id
from bot.base.settings import Settings
from bot.chat.actors import Actor
from bot.chat.commands import Entry, discord_commands
from bot.chat.dispatch import Dispatcher
from bot.chat.parsing import PoemOptions
from bot.chat.replies import Reply

log = logging.getLogger(__name__)
MAX_TEXT = 2000
# cangtou has no voice: do not warn at every start that the voice libraries are missing
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False
FORMS = [app_commands.Choice(name="五言", value=5), app_commands.Choice(name="七言", value=7)]
POSITIONS = [
    app_commands.Choice(name="藏头", value="head"),
    app_commands.Choice(name="藏尾", value="tail"),
]
SCRIPTS = [
    app_commands.Choice(name="简体", value="simplified"),
    app_commands.Choice(name="繁体", value="traditional"),
]


class PayloadButton(discord.ui.DynamicItem[discord.ui.Button], template=r"(?P<payload>.{1,100})"):
    """Every button the core makes. Dynamic items are matched by custom_id, so the buttons of
    poems sent before a restart keep working; unknown or forged ids reach the core, which says
    so politely."""

    def __init__(self, label: str, payload: str):
        super().__init__(discord.ui.Button(label=label, custom_id=payload))
        self.payload = payload

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str]):
        return cls(item.label or "", match["payload"])

    async def callback(self, interaction: discord.Interaction) -> None:
        core: Dispatcher = interaction.client.core
        await interaction.response.defer()  # acknowledge first: a 🔄 poem takes a moment
        answer = await core.callback(actor_of(interaction), self.payload)
        if answer.edit is not None:
            await interaction.edit_original_response(
                content=answer.edit.text[:MAX_TEXT], view=view_of(answer.edit)
            )
        await interaction.followup.send(answer.toast, ephemeral=True)
        if answer.reply is not None:
            await send(interaction, answer.reply)


def view_of(reply: Reply) -> discord.ui.View | None:
    if not reply.buttons:
        return None
    view = discord.ui.View(timeout=None)
    for row, buttons in enumerate(reply.buttons):
        for button in buttons:
            item = PayloadButton(button.label, button.payload)
            item.item.row = row
            view.add_item(item)
    return view


def extras(reply: Reply) -> dict:
    """The buttons and the card (a PNG attachment) of a reply, as send() keywords."""
    out: dict = {}
    if (view := view_of(reply)) is not None:
        out["view"] = view
    if reply.card is not None:
        out["file"] = discord.File(io.BytesIO(reply.card), filename=f"cangtou-{reply.poem_id}.png")
    return out


async def send(interaction: discord.Interaction, reply: Reply) -> None:
    await interaction.followup.send(reply.text[:MAX_TEXT], **extras(reply))


def sender(client: discord.Client):
    """Posts a reply to a channel by id (daily poems, admin notices)."""

    async def send(channel_id: str, reply: Reply, via: str = "") -> None:
        channel = client.get_channel(int(channel_id)) or await client.fetch_channel(
            int(channel_id)
        )
        await channel.send(reply.text[:MAX_TEXT], **extras(reply))

    return send


def actor_of(interaction: discord.Interaction) -> Actor:
    in_guild = interaction.guild_id is not None
    permissions = interaction.permissions

    async def chat_admin() -> bool:
        return permissions.manage_guild or permissions.administrator

    channel = interaction.channel
    return Actor(
        "discord",
        str(interaction.user.id),
        str(interaction.channel_id),
        user_name=interaction.user.display_name,
        chat_kind="guild" if in_guild else "dm",
        chat_title=getattr(channel, "name", "") or "",
        chat_admin=chat_admin if in_guild else None,
    )


class _Cangtou:
    """An app-command tree and restart-safe buttons; the commands are added by `build_bot`."""

    def __init__(self, settings: Settings, core: Dispatcher, **options):
        # the bot echoes user text (/settings, bad heads): never let it ping @everyone or anyone
        options.setdefault("allowed_mentions", discord.AllowedMentions.none())
        super().__init__(intents=discord.Intents.none() | discord.Intents(guilds=True), **options)
        self.settings = settings
        self.core = core
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = on_tree_error

    async def setup_hook(self) -> None:
        self.add_dynamic_items(PayloadButton)  # restart-safe buttons
        if self.settings.discord.sync_commands:
            await self.tree.sync()


class CangtouClient(_Cangtou, discord.Client):
    """One connection: Discord's single shard, or `shard_id` of `shard_count`."""


class CangtouShardedClient(_Cangtou, discord.AutoShardedClient):
    """Several shards in one process (`shard_ids` of `shard_count`), for bots in many guilds."""


def build_bot(settings: Settings, core: Dispatcher | None = None, **options) -> discord.Client:
    """A discord.py client wired to the core; `await bot.start(token)` runs it."""
    if core is None:
        from bot.runtime.app import build_core

        core = build_core(settings)
    sharded = "shard_ids" in options or (options.get("shard_count") and "shard_id" not in options)
    bot = (CangtouShardedClient if sharded else CangtouClient)(settings, core, **options)

    @app_commands.describe(
        head="藏在每句开头的字，1–12 个汉字，例如 算法进阶",
        form="五言或七言（默认本频道的设置）",
        position="藏头（默认）或藏尾",
        script="简体或繁体输出",
        theme="主题，例如 祝寿（默认本频道的设置，否则就是藏头字本身）",
    )
    @app_commands.choices(form=FORMS, position=POSITIONS, script=SCRIPTS)
    async def acrostic(
        interaction: discord.Interaction,
        head: app_commands.Range[str, 1, 100],
        form: int | None = None,
        position: str = "head",
        script: str | None = None,
        theme: str | None = None,
    ) -> None:
        """写一首藏头诗"""
        await interaction.response.defer(thinking=True)
        options = PoemOptions(head, form, position, script, theme)
        raw = f"/acrostic head:{head} form:{form or ''}" + (f" theme:{theme}" if theme else "")
        await send(interaction, await core.acrostic(actor_of(interaction), options, raw))

    for entry in discord_commands():
        if entry.slash == "poem":
            for name in (entry.name, "cangtou"):
                bot.tree.add_command(
                    app_commands.Command(name=name, description=entry.discord, callback=acrostic)
                )
        else:
            make = {"settings": _settings_command, "subscribe": _subscribe_command}
            bot.tree.add_command(make.get(entry.slash, _text_command)(core, entry))
    return bot


def _text_command(core: Dispatcher, entry: Entry) -> app_commands.Command:
    async def run(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await send(interaction, await core.command(actor_of(interaction), f"/{entry.name}"))

    return app_commands.Command(name=entry.name, description=entry.discord, callback=run)


def _settings_command(core: Dispatcher, entry: Entry) -> app_commands.Command:
    @app_commands.describe(change="例如：五言、押韵 关、繁、创意 1.0、主题 祝寿；留空查看当前设置")
    async def run(interaction: discord.Interaction, change: str = "") -> None:
        await interaction.response.defer(thinking=True)
        reply = await core.command(actor_of(interaction), f"/settings {change}".strip())
        await send(interaction, reply)

    return app_commands.Command(name=entry.name, description=entry.discord, callback=run)


def _subscribe_command(core: Dispatcher, entry: Entry) -> app_commands.Command:
    @app_commands.describe(time="每天几点发（HH:MM，默认 08:00）", form="五言或七言")
    @app_commands.choices(form=FORMS)
    async def run(interaction: discord.Interaction, time: str = "", form: int | None = None):
        await interaction.response.defer(thinking=True)
        args = " ".join(x for x in (time, {5: "五言", 7: "七言"}.get(form or 0, "")) if x)
        await send(interaction, await core.command(actor_of(interaction), f"/subscribe {args}"))

    return app_commands.Command(name=entry.name, description=entry.discord, callback=run)


async def on_tree_error(interaction: discord.Interaction, error: Exception) -> None:
    """Log first, with an error id; then a short apology to the user."""
    eid = error_id()
    log.error("discord command failed error_id=%s", eid, exc_info=error)
    text = messages.FAILED.format(error_id=eid)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not send the apology for error_id=%s", eid)


def sharding(settings: Settings) -> dict:
    """discord.py options for the shards this replica runs (none: Discord's single shard)."""
    options: dict = {}
    if settings.discord.shard_count:
        options["shard_count"] = settings.discord.shard_count
        if settings.discord.shard_ids:
            options["shard_ids"] = settings.discord.shard_ids
    return options


def point_at(settings: Settings) -> None:
    """Use the API base and gateway from settings (a local fake server in tests)."""
    import yarl

    if settings.discord.api_base:
        discord.http.Route.BASE = settings.discord.api_base.rstrip("/")
    if settings.discord.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord.gateway_url)
