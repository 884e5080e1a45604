"""Parsing chat text into commands and poem options (no I/O, no platform)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from bot.base.ids import to_base36
from engine.text import normalize_width

# a command's name: ASCII letters, or the Chinese aliases (藏头 …), whose characters \w holds
COMMAND = re.compile(
    r"^[/／!！]([A-Za-z_]+|[\u4e00-\u9fff]+)(?:@\w+)?(?:\s+(.*)|(?=[\u4e00-\u9fff])(.*))?$",
    re.DOTALL,
)
FORMS = {"五言": 5, "五": 5, "5": 5, "七言": 7, "七": 7, "7": 7}
POSITIONS = {"藏头": "head", "藏尾": "tail"}
SCRIPTS = {"繁": "traditional", "繁体": "traditional", "简": "simplified", "简体": "simplified"}
SCRIPTS.update({"繁體": "traditional", "簡": "simplified", "簡體": "simplified"})
OPTION_WORDS = {*FORMS, *POSITIONS, *SCRIPTS}
ALIASES = {"cangtou": "acrostic", "藏头": "acrostic", "藏头诗": "acrostic", "藏頭": "acrostic",
           "藏頭詩": "acrostic"}  # fmt: skip
# Labelled options, one rule for all: `主题:祝寿`, `意象:杏花,长安` anywhere in the arguments
LABELLED = re.compile(
    r"(?:^|(?<=\s))(主题|主題|theme|意象|keywords?)\s*[:：]\s*(\S*)", re.IGNORECASE
)
LABELS = {"主题": "theme", "主題": "theme", "theme": "theme", "意象": "keywords",
          "keyword": "keywords", "keywords": "keywords"}  # fmt: skip
SEPARATORS = ",，、;；/／﹐"
# a keyword list goes on past a separator and the spaces around it: `意象:杏花, 长安`
NEXT_AFTER_SEPARATOR = re.compile(r"\s+(?=\S)")
SEPARATOR_NEXT = re.compile(rf"\s*[{SEPARATORS}][\s{SEPARATORS}]*")
WORD = re.compile(r"\S*")
KEYWORD_SEPARATOR = re.compile(rf"\s*[{SEPARATORS}]\s*")
GLUED = re.compile(r"(主题|主題|意象)\s*[:：]")  # a label left inside a word: glued to the head
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates: no database takes them


def clean_text(text: str) -> str:
    """User text that every database, log and platform can hold: NUL and lone surrogates (which
    PostgreSQL, SQLite's UTF-8 or an encoder would refuse) become U+FFFD."""
    return UNSTORABLE.sub("\ufffd", text)


@dataclass(frozen=True)
class Command:
    name: str  # lower case, aliases resolved
    args: str  # the rest of the message, stripped


def parse_command(text: str) -> Command | None:
    """'/acrostic@cangtou_bot 算法进阶 五言' → Command('acrostic', '算法进阶 五言')."""
    match = COMMAND.match(text.strip())
    if not match:
        return None
    name, args = match.group(1).lower(), match.group(2) or match.group(3) or ""
    if name not in ALIASES and (alias := _glued_alias(name)):  # /藏头春风: the head glued on
        name, args = alias, name[len(alias) :] + (" " + args if args else "")
    return Command(ALIASES.get(name, name), args.strip())


def _glued_alias(name: str) -> str | None:
    """The longest Chinese alias `name` begins with (藏头诗 before 藏头), if any."""
    found = [a for a in ALIASES if not a.isascii() and name.startswith(a) and len(name) > len(a)]
    return max(found, key=len, default=None)


@dataclass(frozen=True)
class PoemOptions:
    head: str  # raw: the engine normalises and validates it
    chars_per_line: int | None = None  # None: the chat's default
    position: str = "head"
    script: str | None = None  # None: the chat's default
    theme: str | None = None  # raw, like the head; None: the chat's default, else the head
    keywords: tuple[str, ...] = ()  # raw 意象, one a line from the first (engine normalises)
    problem: str | None = None  # a malformed option: said to the user instead of a poem


def labelled_options(args: str) -> tuple[str, dict[str, str], str | None]:
    """(the arguments without their labelled options, label → raw value, a problem or None).
    A label given twice is a problem; its value may be empty (the engine says so). A keyword
    list may have spaces around its separators (`意象:杏花, 长安`); words left on both sides
    of a label are a split head (`金榜题名 意象:杏花 长安`), which is a problem, not a head
    with the keywords glued on."""
    found: dict[str, str] = {}
    problem = None
    pieces, at = [], 0
    for match in LABELLED.finditer(args):
        if match.start() < at:  # inside the keyword list just taken
            continue
        name = LABELS[match.group(1).lower()]
        value, end = match.group(2), match.end()
        if name == "keywords":
            value, end = _keyword_list(args, value, end)
        if name in found and problem is None:
            problem = f"「{match.group(1)}:」只能给一次 (give {name} once)"
        found.setdefault(name, value)
        pieces.append(args[at : match.start()])
        at = end
    pieces.append(args[at:])
    rest = " ".join(pieces)
    if problem is None and (glued := GLUED.search(rest)):
        problem = f"「{glued.group(1)}:」要和藏头字分开写，前面加空格 (put a space before {glued.group(1)}:)"
    if problem is None and found:
        words = [piece.split() for piece in pieces]
        split = [i for i, piece in enumerate(words) if any(w not in OPTION_WORDS for w in piece)]
        if len(split) > 1:
            problem = (
                "藏头字要连在一起写，不要被「主题:」「意象:」隔开；意象的词用逗号分开，例如 "
                "意象:杏花,长安 (write the head in one place; separate keywords with commas)"
            )
    return rest, found, problem


def _keyword_list(args: str, value: str, end: int) -> tuple[str, int]:
    """A keyword value and where it ends, taken on past separators with spaces around them
    (never into the next label)."""
    while True:
        gap = NEXT_AFTER_SEPARATOR if value and value[-1] in SEPARATORS else SEPARATOR_NEXT
        step = gap.match(args, end)
        if step is None or LABELLED.match(args, step.end()) or GLUED.match(args, step.end()):
            return value, end
        word = WORD.match(args, step.end())
        value, end = value + step.group(0) + word.group(0), word.end()
        if word.group(0) == "" and step.end() == len(args):
            return value, end


def marker_in(text: str) -> str | None:
    """The one line to say when a 主题:/意象: marker sits inside what must be one value (a
    Discord head option, a /settings theme); None when there is none."""
    if match := GLUED.search(text) or LABELLED.search(text):
        label = match.group(1)
        return f"这里不能写「{label}:」：请分开给出 (no {label}: inside this value)"
    return None


def split_keywords(raw: str | None) -> tuple[str, ...]:
    """'杏花,长安' (or ，、；/, spaces around them) → ('杏花', '长安'); an empty place keeps
    its line free for the planner ('杏花,,长安': line 3 holds 长安); () for none."""
    if raw is None:
        return ()
    words = KEYWORD_SEPARATOR.split(raw.strip())
    while words and not words[-1]:
        words.pop()
    return tuple(words) if any(words) else ()


def parse_poem_args(args: str) -> PoemOptions:
    """Option words (五言/七言, 藏头/藏尾, 繁/简) are separate tokens after the head; a lone
    token is always the head, so `/acrostic 七言` writes a poem on 七 and 言. `主题:祝寿`
    (or 主题：, theme:) and `意象:杏花,长安` (keywords:) anywhere give the theme and the
    keywords of the first lines."""
    args, labelled, problem = labelled_options(args)
    theme = labelled.get("theme")  # "" when nothing follows: the engine says it is empty
    keywords = split_keywords(labelled.get("keywords"))
    if "keywords" in labelled and not keywords and problem is None:
        problem = "意象为空：请在「意象:」后写上词语，用逗号分开 (no keywords after 意象:)"
    tokens = args.split()
    cpl = position = script = None
    head_tokens = list(tokens)
    while len(head_tokens) > 1:
        last = head_tokens[-1]
        if last in FORMS and cpl is None:
            cpl = FORMS[last]
        elif last in POSITIONS and position is None:
            position = POSITIONS[last]
        elif last in SCRIPTS and script is None:
            script = SCRIPTS[last]
        elif last in OPTION_WORDS and problem is None:  # 五言 七言: not a head of 五 and 言
            problem = f"「{last}」这类选项给了两次：五言/七言、藏头/藏尾、繁/简 各选一个 (give each option once)"
            break
        else:
            break
        head_tokens.pop()
    head = "".join(head_tokens)
    return PoemOptions(head, cpl, position or "head", script, theme, keywords, problem)


# A reply to a poem's message on a platform without buttons (QQ): stars, 🔄 or 🖼 as words
REPLY_STARS = re.compile(r"^(?:评分|打分|rate)?\s*[★⭐]?\s*([1-5])\s*(?:星|分|★)?$", re.IGNORECASE)
REPLY_WORDS = {"再来": "again", "再来一首": "again", "again": "again", "🔄": "again",
               "卡片": "card", "诗笺": "card", "card": "card", "🖼": "card"}  # fmt: skip


REPLY_STAR_RUN = re.compile(r"^(?:评分|打分|rate)?\s*([★⭐]{1,5})$")
REPLY_WORDED = re.compile(r"^(?:评分|打分)?\s*([一二两三四五①②③④⑤])\s*(?:颗|个)?\s*(?:星|分|★)?$")
WORDED = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "①": 1, "②": 2, "③": 3,
          "④": 4, "⑤": 5}  # fmt: skip
# a rating that is no rating: 0, 6, -1, 3.5, ★★★★★★ (told how to rate, when it quotes a poem)
REPLY_OFF_SCALE = re.compile(
    r"^(?:评分|打分|rate)?\s*(?:[★⭐]?\s*[-+]?\d{1,2}(?:\.\d+)?\s*(?:星|分|★)?|[★⭐]{6,})$"
)


def parse_reply_action(text: str) -> str | None:
    """'5', '★5', '评分 5', '★★★', '五星', '⑤' → 'rate:N'; a number off the 1–5 scale →
    'rate:?'; '再来' → 'again'; '卡片' → 'card'; None for anything else (conversation)."""
    text = normalize_width(text).strip().lower()
    if match := REPLY_STARS.match(text):
        return f"rate:{match.group(1)}"
    if match := REPLY_STAR_RUN.match(text):
        return f"rate:{len(match.group(1))}"
    if match := REPLY_WORDED.match(text):
        return f"rate:{WORDED[match.group(1)]}"
    if REPLY_OFF_SCALE.match(text):
        return "rate:?"
    return REPLY_WORDS.get(text)


CALLBACK = re.compile(r"^(r|a|c):([0-9a-z]{1,10})(?::([1-5]))?$")
FORGET = re.compile(r"^f:([0-9a-f]{12})$")


@dataclass(frozen=True)
class Callback:
    kind: str  # "rate", "again", "card", "forget"
    poem_id: int
    stars: int | None = None
    owner: str | None = None  # forget: the tag of the user who asked (see `owner_tag`)


def rate_payload(poem_id: int, stars: int) -> str:
    return f"r:{to_base36(poem_id)}:{stars}"


def again_payload(poem_id: int) -> str:
    return f"a:{to_base36(poem_id)}"


def card_payload(poem_id: int) -> str:
    return f"c:{to_base36(poem_id)}"


def owner_tag(user_key: str) -> str:
    """A short, stable tag of a user ('telegram:42'), ASCII for a button payload."""
    return hashlib.sha256(user_key.encode()).hexdigest()[:12]


def forget_payload(user_key: str) -> str:
    """The /forgetme confirmation button: it names who asked, so only their press acts."""
    return f"f:{owner_tag(user_key)}"


def parse_callback(data: str | None) -> Callback | None:
    """Button payloads: 'r:<id>:<1-5>', 'a:<id>', 'c:<id>', 'f:<owner>'; None for anything
    else (forged)."""
    if match := FORGET.fullmatch(data or ""):
        return Callback("forget", 0, owner=match.group(1))
    match = CALLBACK.fullmatch(data or "")
    if not match:
        return None
    kind, ident, stars = match.groups()
    if kind == "r" and stars:
        return Callback("rate", int(ident, 36), int(stars))
    if kind in ("a", "c") and not stars:
        return Callback("again" if kind == "a" else "card", int(ident, 36))
    return None
