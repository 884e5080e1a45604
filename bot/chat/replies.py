"""What the core answers with (platform-neutral), and how a poem is laid out in a chat."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.base import messages
from bot.chat.parsing import again_payload, card_payload, rate_payload, to_base36
from engine.checks import FORMS, footer
from engine.text import COMMA, PERIOD, to_traditional
from engine.vocab import UNK

POSITIONS = {"head": "藏头", "tail": "藏尾"}


@dataclass(frozen=True)
class Button:
    label: str
    payload: str  # ASCII, ≤ 64 bytes (Telegram callback_data, Discord custom_id)


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()  # rows of buttons
    poem_id: int | None = None
    error_id: str | None = None
    model_version: str | None = None
    card: bytes | None = None  # a PNG poem card: sent as a photo, the text as its caption
    # a refusal for being over a limit: (scope "user" or "chat", seconds until it refills);
    # a platform where every answer is a group message says it once a window (QQ)
    limited: tuple[str, float] | None = None


def rate_limited(scope: str, retry_after: float) -> Reply:
    """The refusal a request over the user's ("user") or the chat's limit gets."""
    template = messages.RATE_LIMITED_USER if scope == "user" else messages.RATE_LIMITED_CHAT
    return Reply(template.format(seconds=int(retry_after)), limited=(scope, retry_after))


@dataclass(frozen=True)
class CallbackAnswer:
    toast: str  # the short notice a button press gets (Telegram answerCallbackQuery)
    edit: Reply | None = None  # new content for the message that holds the button
    reply: Reply | None = None  # a new message (🔄 sends another poem, 🖼 its card)
    alert: bool = False


@dataclass(frozen=True)
class PoemView:
    """A stored or fresh poem, as much as a chat reply needs."""

    poem_id: int | None
    head: str
    text: str  # with ，。 marks, in the script the chat asked for
    chars_per_line: int
    position: str
    model_version: str
    checks: dict
    params: dict = field(default_factory=dict)
    script: str = "simplified"
    theme: str | None = None  # what it was asked to be about; None: the head itself


def poem_lines(text: str) -> list[str]:
    """'甲，乙。' → ['甲，', '乙。']."""
    lines, line = [], ""
    for ch in text:
        line += ch
        if ch in (COMMA, PERIOD):
            lines.append(line)
            line = ""
    return lines + ([line] if line else [])


def poem_buttons(poem_id: int) -> tuple[tuple[Button, ...], ...]:
    stars = tuple(Button(f"★{n}", rate_payload(poem_id, n)) for n in range(1, 6))
    more = (
        Button(messages.AGAIN_LABEL, again_payload(poem_id)),
        Button(messages.CARD_LABEL, card_payload(poem_id)),
    )
    return (stars, more)


def relaxed_note(params: dict, lines: list[str], shown=str) -> str:
    """注：为凑成诗句，放宽了押韵、意象入诗（杏花村未入诗）。 — the rules a poem had to relax,
    naming each planned keyword its line does not hold."""
    names = []
    for name in params.get("relaxed") or ():
        said = messages.RELAXED_RULES.get(name, name)
        if name == "keyword":
            plan = params.get("outline") or ()
            missing = [shown(k) for k, line in zip(plan, lines, strict=False)
                       if k and shown(k) not in line]  # fmt: skip
            if missing:
                said += messages.KEYWORDS_LEFT_OUT.format(keywords="、".join(missing))
        names.append(said)
    return messages.RELAXED_NOTE.format(names="、".join(names))


def render_poem(view: PoemView, rating: tuple[float, int] | None = None, note: str = "") -> Reply:
    """Title, the lines, notes, the compliance footer and the id that reproduces the poem."""
    position = POSITIONS.get(view.position, "藏中")
    shown = to_traditional if view.script == "traditional" else str
    form = FORMS[view.chars_per_line]
    themed = view.theme and view.theme != view.head  # a festival is its own head and theme
    title = messages.POEM_TITLE_THEMED if themed else messages.POEM_TITLE
    theme = shown(view.theme or "")
    parts = [title.format(head=shown(view.head), position=position, form=form, theme=theme)]
    parts += poem_lines(view.text)
    outline = [k for k in view.params.get("outline") or () if k]
    if outline:  # the plan the poem was written to, in the chat's script
        parts.append(messages.OUTLINE_LINE.format(keywords=" · ".join(shown(k) for k in outline)))
    fallbacks = view.params.get("fallbacks") or {}
    if fallbacks:  # a character the model never saw: what it was conditioned on instead
        known = {ch: f["token"] for ch, f in fallbacks.items() if f["token"] != UNK}
        unknown = [ch for ch in fallbacks if ch not in known]
        if known:
            parts.append(messages.FALLBACK_NOTE.format(
                chars="、".join(f"「{ch}」" for ch in known),
                stand_ins="、".join(f"「{t}」" for t in known.values())))  # fmt: skip
        if unknown:  # no stand-in: never show the model's <unk> token
            chars = "、".join(f"「{ch}」" for ch in unknown)
            parts.append(messages.FALLBACK_NOTE_NO_STAND_IN.format(chars=chars))
    if view.params.get("relaxed"):
        lines = [line.rstrip("，。") for line in poem_lines(view.text)]
        parts.append(relaxed_note(view.params, lines, shown))
    parts.append(footer(view.checks))
    if rating and rating[1]:
        parts.append(messages.RATING_LINE.format(mean=rating[0], count=rating[1]))
    if view.poem_id is not None:
        parts.append(
            messages.POEM_ID.format(poem_id=to_base36(view.poem_id), version=view.model_version)
        )
    if note:
        parts.append(note)
    buttons = poem_buttons(view.poem_id) if view.poem_id is not None else ()
    return Reply("\n".join(parts), buttons, view.poem_id, model_version=view.model_version)
