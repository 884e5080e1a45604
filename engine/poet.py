"""The public face of the engine: load a model directory, write acrostics, score texts."""

from __future__ import annotations

import dataclasses
import functools
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.checkpoint import LoadedModel, load_model_dir
from engine.checks import poem_checks
from engine.constraints import Constraints, Rules, relaxed_names
from engine.decode import Decoded, Skeleton, beam_search, sample
from engine.forms import STARTS, rhyme_lines, start_label, tone_slots
from engine.heads import Fallbacks, normalize_head, normalize_theme
from engine.novelty import LineIndex
from engine.poem import Poem, check_acrostic, check_formula, punctuate
from engine.prosody import Prosody
from engine.rerank import rerank
from engine.rules import PhrasePenalties, basic_block_mask
from engine.stepper import Stepper
from engine.text import to_simplified

SHIPPED_MODEL = Path(__file__).resolve().parent / "shipped"
MODES = ("diverse", "beam", "sample")


@dataclass(frozen=True)
class SearchWeights:
    """The default search: diverse beam groups, then a mutual-information rerank."""

    groups: int = 4
    width: int = 4  # hypotheses per group
    diversity: float = 1.0  # nats a group pays for a character an earlier group just chose
    mi_weight: float = 0.5  # λ in log p(poem | theme) − λ·log p(poem)
    cliche_weight: float = 1.0  # scales the model's measured cliché penalties
    recent_nats: float = 2.0  # penalty on an n-gram the same chat received recently


DEFAULT_SEARCH = SearchWeights()
TONE_MODES = ("strict", "loose", None)
POSITION_NAMES = {"head": "藏头", "tail": "藏尾"}


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
        mode: str = "diverse",
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
        theme: str | None = None,
        recent: Iterable[str] = (),
        search: SearchWeights = DEFAULT_SEARCH,
    ) -> Poem:
        """An acrostic: line i holds head character i at `position` (藏头 by default).

        `theme`: a short phrase the poem is about (the head itself when None). `mode`:
        "diverse" (diverse beam groups reranked by mutual information with the theme, the
        default), "beam" (plain beam search) or "sample". `rhyme`: the even lines end in one
        平水韵 group, chosen by the search. `tones`: the 近体诗 平仄 pattern as a mask
        ("strict") or a penalty ("loose"). `novelty`: no line is a corpus line. `recent`:
        n-grams this chat received lately, penalised. Raises HeadError for a bad head or theme
        and ValueError for bad options.
        """
        _check_options(chars_per_line, mode, beam_size, temperature, top_k, top_p, max_repeat)
        if tones not in TONE_MODES:
            raise ValueError(f"tones must be one of {TONE_MODES}")
        at = position_index(position, chars_per_line)
        head = normalize_head(head)
        theme = head if theme is None else normalize_theme(theme)
        params: dict = {
            "chars_per_line": chars_per_line,
            "mode": mode,
            "position": position,
            "max_repeat": max_repeat,
            "rhyme": rhyme,
            "tones": tones,
            "novelty": novelty and self.line_index is not None,
            "theme": theme,
        }
        conditioning = self._conditioning(head, params)
        skeleton = Skeleton.acrostic(self.vocab, conditioning, chars_per_line, at)
        penalties = self._penalties(search, recent)
        constraints = self._constraints(
            skeleton, len(head), max_repeat, rhyme, tones, novelty, penalties
        )
        prefix = self.vocab.prefix(theme)
        if mode == "sample":
            seed = secrets.randbits(31) if seed is None else seed
            params.update(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
            gen = torch.Generator().manual_seed(seed)
            decoded = sample(
                self.stepper, self.vocab, skeleton, constraints, gen, temperature, top_k, top_p,
                prefix,
            )  # fmt: skip
        elif mode == "beam":
            params["beam_size"] = beam_size
            decoded = beam_search(
                self.stepper, self.vocab, skeleton, constraints, beam_size, prefix
            )[0]
        else:
            params["search"] = dataclasses.asdict(search)
            finals = beam_search(
                self.stepper, self.vocab, skeleton, constraints, search.width, prefix,
                search.groups, search.diversity,
            )  # fmt: skip
            plain = [*self.vocab.prefix(""), self.vocab.form_id(chars_per_line)]
            ranked = rerank(
                self.model, finals, plain if self.vocab.themed else None, search.mi_weight
            )
            decoded = ranked[0].decoded
            params["theme_gain"] = round(ranked[0].themed - ranked[0].plain, 4)
        return self._poem(head, decoded, skeleton, at, tones, params)

    def _penalties(self, search: SearchWeights, recent: Iterable[str]) -> PhrasePenalties:
        """The model's clichés (scaled) and this chat's recent phrases, as one table."""
        index = self.vocab.index
        cliches = self.loaded.meta.get("cliches", {}).get("ngrams", {})
        table = PhrasePenalties.from_phrases(
            {g: v * search.cliche_weight for g, v in cliches.items()}, index
        )
        recent = list(recent)
        if recent:
            table = table.merged(PhrasePenalties.from_phrases(recent, index, search.recent_nats))
        return table

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
        penalties: PhrasePenalties | None = None,
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
            forced=tuple((i, t) for i, t in enumerate(skeleton.slots) if t is not None),
        )
        masks = self.masks if rhyme_slots or tone_rules else None
        lines = self.line_index if novelty else None
        return Constraints(self.generable, rules, masks, lines, penalties)

    @functools.cached_property
    def generable(self) -> torch.Tensor:
        """(V,) ids the decoder may choose: basic-block characters only (heads are forced)."""
        return basic_block_mask(self.vocab.tokens)

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
        forced_rhymes = at == cpl - 1  # 藏尾: the head characters end the rhyming lines
        check_formula(lines, forced_rhymes, params.get("relaxed", []))
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
