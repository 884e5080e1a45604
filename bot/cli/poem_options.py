"""The poem options `acrostic poem` and `acrostic card` share (card takes every poem option)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import fail

Five = Annotated[bool, typer.Option("--five", help="五言: five characters a line.")]
Seven = Annotated[bool, typer.Option("--seven", help="七言: seven characters a line (default).")]
Beam = Annotated[
    int | None,
    typer.Option(help="Plain beam search of this width instead of the default search."),
]
Sample = Annotated[bool, typer.Option("--sample", help="Sample instead of searching.")]
Head = Annotated[
    list[str],
    typer.Argument(
        metavar="HEAD",
        help="The characters that start the lines, e.g. 算法进阶; `主题:生日` and "
        "`意象:杏花,长安` may follow, as in chat.",
    ),
]
Keywords = Annotated[
    str | None,
    typer.Option(help="意象: keywords for lines 1, 2 …, comma-separated, e.g. 杏花,长安."),
]
Outline = Annotated[
    bool, typer.Option(help="Plan one keyword a line (意象) from the head's meaning.")
]
Theme = Annotated[
    str | None, typer.Option(help="What the poem is about (default: the head itself).")
]
Temperature = Annotated[float, typer.Option(help="Sampling temperature.")]
TopP = Annotated[float, typer.Option(help="Nucleus sampling mass.")]
TopK = Annotated[int, typer.Option(help="Keep only the k likeliest characters (0 = all).")]
Seed = Annotated[int | None, typer.Option(help="Sampling seed (same seed, same poem).")]
Rhyme = Annotated[bool, typer.Option(help="Even lines rhyme in one 平水韵 group.")]
Tones = Annotated[str, typer.Option(help="平仄 pattern: strict, loose or off.")]
Novelty = Annotated[bool, typer.Option(help="Never copy a whole corpus line.")]
Position = Annotated[str, typer.Option(help="head (藏头), tail (藏尾) or 1-7 (藏中).")]
Model = Annotated[Path | None, typer.Option(help="Model directory (default: the shipped model).")]


def request_of(words: list[str], theme: str | None, keywords: str | None):
    """(head, theme, keywords) from HEAD's words and the options, by the chat's one rule for
    `主题:`/`意象:` (bot.chat.parsing); one line and exit 2 for a malformed or doubled one."""
    from bot.chat.parsing import labelled_options, split_keywords

    rest, labelled, problem = labelled_options(" ".join(words))
    if problem:
        fail(problem)
    if "theme" in labelled and theme is not None:
        fail("give the theme once: 主题: in the head or --theme, not both")
    if "keywords" in labelled and keywords is not None:
        fail("give the keywords once: 意象: in the head or --keywords, not both")
    raw = labelled.get("keywords", keywords)
    own = split_keywords(raw)
    if raw is not None and not own:
        fail("意象为空：请写上词语，用逗号分开 (no keywords: give words, comma-separated)")
    return "".join(rest.split()), labelled.get("theme", theme), own


def notes(poem) -> list[str]:
    """What the chat says under a poem: the plan it was written to (意象：登科 · 杏园 · 长安),
    and the rules relaxed to finish it (注：为凑成诗句，放宽了意象入诗。)."""
    from bot.base import messages
    from bot.chat.replies import relaxed_note

    out = []
    if keywords := [k for k in poem.params.get("outline") or () if k]:
        out.append(messages.OUTLINE_LINE.format(keywords=" · ".join(keywords)))
    if poem.params.get("relaxed"):
        out.append(relaxed_note(poem.params, poem.lines))
    return out
