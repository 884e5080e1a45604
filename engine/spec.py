"""One poem request, everything that decides the poem: built once, validated once, stored as is."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.heads import normalize_head, normalize_keywords, normalize_theme

MODES = ("diverse", "beam", "sample")
TONE_MODES = ("strict", "loose", None)
SCRIPTS = ("simplified", "traditional")


@dataclass(frozen=True)
class PoemSpec:
    """An acrostic request. The head (and theme) are normalised here, the only place: building a
    spec raises HeadError/ThemeError for a bad head or theme and ValueError for bad options.
    `dataclasses.asdict(spec)` is what a poem is stored with; `PoemSpec.from_dict` rebuilds it."""

    head: str
    chars_per_line: int = 7  # 5 五言 or 7 七言
    position: str | int = "head"  # "head" 藏头, "tail" 藏尾, or n (1-based) 藏中
    mode: str = "diverse"  # diverse beam groups + rerank, plain "beam", or "sample"
    beam_size: int = 8  # mode "beam"
    temperature: float = 1.0  # mode "sample"
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None  # mode "sample": None draws one (recorded in the poem's params)
    max_repeat: int = 2
    rhyme: bool = True  # the even lines end in one 平水韵 group
    tones: str | None = None  # 近体诗 平仄 as a mask ("strict") or a penalty ("loose")
    novelty: bool = True  # no line is a corpus line
    theme: str | None = None  # what the poem is about; None: the head itself
    recent: tuple[str, ...] = ()  # n-grams this chat received lately, penalised
    script: str = "simplified"  # the script of the returned text (lines stay simplified)
    # engine.poet.SearchWeights (or its asdict, as stored); None: the defaults of the day
    search: Any = None
    keywords: tuple[str, ...] = ()  # the user's 意象 (意象:杏花,长安): lines 1, 2 … hold them
    outline: bool = True  # the planner fills the other lines' keywords (with plan data)
    plan_seed: int = 0  # 0: the planner's first choice; another: a different draw (🔄)

    def __post_init__(self):
        set_ = object.__setattr__  # frozen: normalised values are set once, here
        set_(self, "head", normalize_head(self.head))
        if self.theme is not None:
            set_(self, "theme", normalize_theme(self.theme))
        set_(self, "recent", tuple(self.recent))
        set_(self, "keywords", normalize_keywords(self.keywords, len(self.head)))
        self._check()

    def _check(self) -> None:
        if self.chars_per_line not in (5, 7):
            raise ValueError("chars_per_line must be 5 (五言) or 7 (七言)")
        position_index(self.position, self.chars_per_line)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if not 1 <= self.beam_size <= 64:
            raise ValueError("beam_size must be between 1 and 64")
        if not 0 < self.temperature <= 10:
            raise ValueError("temperature must be in (0, 10]")
        if not 0 < self.top_p <= 1 or self.top_k < 0:
            raise ValueError("top_p must be in (0, 1] and top_k ≥ 0")
        if self.max_repeat < 1:
            raise ValueError("max_repeat must be at least 1")
        if self.tones not in TONE_MODES:
            raise ValueError(f"tones must be one of {TONE_MODES}")
        if self.script not in SCRIPTS:
            raise ValueError(f"script must be one of {SCRIPTS}")

    @property
    def at(self) -> int:
        """The 0-based index of the head character in each line."""
        return position_index(self.position, self.chars_per_line)

    def asdict(self) -> dict:
        """JSON-ready: what a poem is stored with."""
        out = dataclasses.asdict(self)
        out["recent"] = list(self.recent)
        out["keywords"] = list(self.keywords)
        return out

    @classmethod
    def from_dict(cls, data: Mapping, **changes) -> PoemSpec:
        """A spec from stored options (older rows lack newer fields; unknown keys are dropped)."""
        return known_fields(cls, {**data, **changes})


def known_fields(cls, data: Mapping):
    """`cls(**data)` without the keys `cls` does not have (stored by another version)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def position_index(position: str | int, chars_per_line: int) -> int:
    """'head' → 0, 'tail' → last, n → the n-th character (1-based, 藏中)."""
    if position == "head":
        return 0
    if position == "tail":
        return chars_per_line - 1
    valid_int = isinstance(position, int) and not isinstance(position, bool)
    if valid_int and 1 <= position <= chars_per_line:
        return position - 1
    raise ValueError(f"position must be 'head', 'tail' or 1..{chars_per_line}")
