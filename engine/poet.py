"""The public face of the engine: load a model directory, write acrostics, score texts."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.checkpoint import LoadedModel, load_model_dir
from engine.checks import poem_checks
from engine.constraints import Constraints, Rules, relaxed_names
from engine.decode import Decoded, Skeleton, beam_search, sample
from engine.forms import STARTS, rhyme_lines, start_label, tone_slots
from engine.heads import Fallbacks, normalize_head
from engine.novelty import LineIndex
from engine.prosody import Prosody
from engine.stepper import Stepper
from engine.text import COMMA, PERIOD, is_han, to_simplified

SHIPPED_MODEL = Path(__file__).resolve().parent / "shipped"
MODES = ("beam", "sample")
TONE_MODES = ("strict", "loose", None)
POSITION_NAMES = {"head": "藏头", "tail": "藏尾"}


def punctuate(lines: list[str]) -> str:
    """'，' after even lines, '。' after odd ones and always after the last."""
    last = len(lines) - 1
    return "".join(
        line + (COMMA if i % 2 == 0 and i != last else PERIOD) for i, line in enumerate(lines)
    )


@dataclass(frozen=True)
class Poem:
    head: str
    lines: list[str]
    text: str
    model_version: str
    score: float
    params: dict = field(default_factory=dict)
    checks: dict = field(default_factory=dict)

    def display_lines(self) -> list[str]:
        """Each line with its punctuation mark, for printing one line per row."""
        marks = [ch for ch in self.text if ch in (COMMA, PERIOD)]
        return [line + mark for line, mark in zip(self.lines, marks, strict=True)]

    def to_dict(self) -> dict:
        return {
            "head": self.head,
            "lines": list(self.lines),
            "text": self.text,
            "model_version": self.model_version,
            "score": round(self.score, 4),
            "params": self.params,
            "checks": self.checks,
        }


def check_acrostic(head: str, lines: list[str], text: str, chars_per_line: int, at: int) -> None:
    """Re-check the guarantees of an acrostic; raise AssertionError if any is broken."""
    if len(lines) != len(head):
        raise AssertionError(f"{len(lines)} lines for a head of {len(head)}")
    for ch, line in zip(head, lines, strict=True):
        if len(line) != chars_per_line or line[at] != ch or not all(is_han(c) for c in line):
            raise AssertionError(f"bad line {line!r} for head character {ch!r}")
    if text != punctuate(lines):
        raise AssertionError("punctuation does not alternate ，/。 ending in 。")


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


class Poet:
    """Writes acrostic poems with one loaded model. Safe to share between threads."""

    def __init__(self, loaded: LoadedModel, precision: str | None = None):
        self.loaded = loaded
        self.vocab = loaded.vocab
        self.model = loaded.model.eval()
        self.stepper = Stepper(self.model, precision)  # int8 / bf16 / fp32, best available
        self.fallbacks = Fallbacks(self.vocab)
        self.prosody = Prosody.load()

    @classmethod
    def load(cls, path: str | Path | None = None, precision: str | None = None) -> Poet:
        """Load a model directory (the shipped default model when no path is given)."""
        return cls(load_model_dir(Path(path) if path else SHIPPED_MODEL), precision)

    @property
    def model_version(self) -> str:
        return self.loaded.version

    @functools.cached_property
    def masks(self):
        """平/仄/rhyme-group masks over this vocabulary (built on first use)."""
        return self.prosody.vocab_masks(self.vocab.tokens)

    @functools.cached_property
    def line_index(self) -> LineIndex | None:
        hashes = self.loaded.line_hashes
        return None if hashes is None else LineIndex(hashes, self.vocab.tokens)

    def acrostic(
        self,
        head: str,
        chars_per_line: int = 7,
        mode: str = "beam",
        beam_size: int = 8,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int | None = None,
        max_repeat: int = 2,
        rhyme: bool = True,
        tones: str | None = None,
        novelty: bool = True,
        position: str | int = "head",
    ) -> Poem:
        """An acrostic: line i holds head character i at `position` (藏头 by default).

        `rhyme`: the even lines end in one 平水韵 group, chosen by the search. `tones`: the
        近体诗 平仄 pattern as a mask ("strict") or a penalty ("loose"). `novelty`: no line is a
        corpus line. Raises HeadError for a bad head and ValueError for bad options.
        """
        _check_options(chars_per_line, mode, beam_size, temperature, top_k, top_p, max_repeat)
        if tones not in TONE_MODES:
            raise ValueError(f"tones must be one of {TONE_MODES}")
        at = position_index(position, chars_per_line)
        head = normalize_head(head)
        params: dict = {
            "chars_per_line": chars_per_line,
            "mode": mode,
            "position": position,
            "max_repeat": max_repeat,
            "rhyme": rhyme,
            "tones": tones,
            "novelty": novelty and self.line_index is not None,
        }
        conditioning = self._conditioning(head, params)
        skeleton = Skeleton.acrostic(self.vocab, conditioning, chars_per_line, at)
        constraints = self._constraints(skeleton, len(head), max_repeat, rhyme, tones, novelty)
        if mode == "beam":
            params["beam_size"] = beam_size
            decoded = beam_search(self.stepper, self.vocab, skeleton, constraints, beam_size)
        else:
            seed = secrets.randbits(31) if seed is None else seed
            params.update(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
            gen = torch.Generator().manual_seed(seed)
            decoded = sample(
                self.stepper, self.vocab, skeleton, constraints, gen, temperature, top_k, top_p
            )
        return self._poem(head, decoded, skeleton, at, tones, params)

    def _conditioning(self, head: str, params: dict) -> list[int]:
        """Ids the model is conditioned on for each head character (fallbacks recorded)."""
        ids, fallbacks = [], {}
        for ch in head:
            token, how = self.fallbacks.resolve(ch)
            ids.append(self.vocab.id(token))
            if how != "exact":
                fallbacks[ch] = {"token": token, "via": how}
        if fallbacks:
            params["fallbacks"] = fallbacks
        return ids

    def _constraints(
        self,
        skeleton: Skeleton,
        n_lines: int,
        max_repeat: int,
        rhyme: bool,
        tones: str | None,
        novelty: bool,
    ) -> Constraints:
        """The rules of this poem as masks: rhyme slots, tone slots per start, repeat limit."""
        cpl = skeleton.chars_per_line
        starts = [i * (cpl + 1) for i in range(n_lines)]
        rhyme_slots = frozenset(starts[i] + cpl - 1 for i in rhyme_lines(n_lines) if rhyme)
        tone_rules: tuple = ()
        if tones:
            per_start = [tone_slots(n_lines, cpl, start) for start in STARTS]
            tone_rules = tuple(
                (slot, tuple(p[slot] for p in per_start)) for slot in sorted(per_start[0])
            )
        rules = Rules(
            max_repeat,
            rhyme_slots,
            tone_rules,
            tones,
            line_starts=frozenset(starts),
            line_ends=frozenset(s + cpl - 1 for s in starts),
        )
        masks = self.masks if rhyme_slots or tone_rules else None
        lines = self.line_index if novelty else None
        return Constraints(len(self.vocab), self.vocab.first_char_id, rules, masks, lines)

    def _poem(self, head, decoded: Decoded, skeleton, at, tones, params) -> Poem:
        cpl = skeleton.chars_per_line
        if tones:
            params["tone_pattern"] = start_label(STARTS[decoded.start], cpl)
        if decoded.relaxed:
            params["relaxed"] = relaxed_names(decoded.relaxed)
        tokens = self.vocab.tokens
        lines = []
        for n, ch in enumerate(head):  # head characters printed exactly, not their stand-ins
            line = [tokens[i] for i in decoded.ids[n * (cpl + 1) : n * (cpl + 1) + cpl]]
            line[at] = ch
            lines.append("".join(line))
        text = punctuate(lines)
        check_acrostic(head, lines, text, cpl, at)
        checks = poem_checks(self.prosody, head, lines, cpl, at)
        checks["position"] = POSITION_NAMES.get(params["position"], "藏中")
        return Poem(head, lines, text, self.model_version, decoded.score, params, checks)

    @torch.no_grad()
    def nats_per_char(self, text: str, theme: str = "") -> float:
        """Mean negative log-likelihood of a poem, per predicted token, in the training framing
        (the theme prefix and form token as context; every character, punctuation mark and the
        end token predicted)."""
        poem = "".join(ch for ch in to_simplified(text) if not ch.isspace())
        if not poem:
            raise ValueError("empty text")
        start = len(self.vocab.prefix(theme))
        ids = torch.tensor([self.vocab.encode_poem(poem, theme)])
        h, _ = self.model(ids[:, :-1])
        return float(self.model.nll(h[:, start:], ids[:, start + 1 :])) / (len(poem) + 1)


def _check_options(chars_per_line, mode, beam_size, temperature, top_k, top_p, max_repeat):
    if chars_per_line not in (5, 7):
        raise ValueError("chars_per_line must be 5 (五言) or 7 (七言)")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if not 1 <= beam_size <= 64:
        raise ValueError("beam_size must be between 1 and 64")
    if not 0 < temperature <= 10:
        raise ValueError("temperature must be in (0, 10]")
    if not 0 < top_p <= 1 or top_k < 0:
        raise ValueError("top_p must be in (0, 1] and top_k ≥ 0")
    if max_repeat < 1:
        raise ValueError("max_repeat must be at least 1")
