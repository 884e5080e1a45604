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
from engine.constraints import Constraints, relaxed_names
from engine.decode import Decoded, Search, Skeleton, beam_steps, drive, sample_steps
from engine.forms import STARTS, start_label
from engine.heads import Fallbacks
from engine.novelty import LineIndex
from engine.outline import Planner, draw_outline, outline_ids
from engine.poem import Poem, check_acrostic, check_formula, punctuate
from engine.poem_rules import poem_constraints
from engine.prosody import Prosody
from engine.rerank import finalists, plain_pass, rerank
from engine.rules import PhrasePenalties, basic_block_mask
from engine.spec import MODES, TONE_MODES, PoemSpec, known_fields, position_index
from engine.stepper import BATCH_PRECISION, Stepper
from engine.text import to_simplified, to_traditional

SHIPPED_MODEL = Path(__file__).resolve().parent / "shipped"


@dataclass(frozen=True)
class SearchWeights:
    """The default search: diverse beam groups, then a mutual-information rerank."""

    groups: int = 4
    width: int = 4  # hypotheses per group
    diversity: float = 1.0  # nats a group pays for a character an earlier group just chose
    mi_weight: float = 0.8  # λ in log p(poem | theme) − λ·log p(poem) (panel: 0.8 ties 0.5)
    rerank_top: int = 8  # finals (best by log p(poem | theme) + penalties) that get the MI pass
    cliche_weight: float = 1.0  # scales the model's measured cliché penalties
    recent_nats: float = 2.0  # penalty on an n-gram the same chat received recently
    repeat_nats: float = 1.0  # penalty on a character for each time the poem already used it


DEFAULT_SEARCH = SearchWeights()


@dataclass(frozen=True)
class Plan:
    """One request made ready for a search (Poet.plan): what to decode and under which rules."""

    spec: PoemSpec
    search: SearchWeights
    params: dict  # recorded in the poem
    skeleton: Skeleton
    constraints: Constraints
    prefix: list[int]  # the theme prefix fed before the form token
    width: int  # beam width (per group)
    groups: int  # diverse beam groups (1: a plain beam)
    diversity: float

    @property
    def outlined(self) -> bool:
        """Whether the search places planned keywords (engine.lexical)."""
        return bool(self.constraints.rules.keywords)


POSITION_NAMES = {"head": "藏头", "tail": "藏尾"}
__all__ = ["DEFAULT_SEARCH", "MODES", "SHIPPED_MODEL", "TONE_MODES", "Poem", "PoemSpec", "Poet"]
__all__ += ["SearchWeights", "position_index"]


class Poet:
    """Writes acrostic poems with one loaded model. Safe to share between threads."""

    def __init__(self, loaded: LoadedModel, precision: str | None = None):
        self.loaded = loaded
        self.vocab = loaded.vocab
        self.model = loaded.model.eval()
        self.stepper = Stepper(self.model, precision)  # int8 / bf16 / fp32, best available
        self.fallbacks = Fallbacks(self.vocab)
        self.prosody = Prosody.load()
        self._cliches: dict[float, PhrasePenalties] = {}  # cliché table per cliché weight
        data = loaded.plan_data
        self.planner = Planner(data, set(self.vocab.tokens)) if data else None  # outlines

    @classmethod
    def load(cls, path: str | Path | None = None, precision: str | None = None) -> Poet:
        """Load a model directory (the shipped default model when no path is given)."""
        return cls(load_model_dir(Path(path) if path else SHIPPED_MODEL), precision)

    @functools.cached_property
    def batch_stepper(self) -> Stepper:
        """The stepper a step scheduler batches requests on: its rows do not depend on the
        rows beside them (engine.lockstep.scheduler), so a poem is the same alone or in any batch."""
        return Stepper(self.model, BATCH_PRECISION)

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

    def acrostic(self, spec: PoemSpec | str, /, **options) -> Poem:
        """An acrostic as `spec` describes it (see PoemSpec); `acrostic("春风", mode="beam")`
        is short for `acrostic(PoemSpec("春风", mode="beam"))`. Raises HeadError for a bad head
        or theme and ValueError for bad options."""
        if isinstance(spec, str):
            spec = PoemSpec(spec, **options)
        elif options:
            raise TypeError("options go into the PoemSpec")
        return drive(self.stepper, self.acrostic_steps(spec))

    def acrostic_steps(self, spec: PoemSpec) -> Search:
        """`acrostic` as a search generator: it yields its model steps (engine.decode.Predict)
        and returns the Poem, so a step scheduler can batch them with other requests'."""
        return (yield from self.search_steps(self.plan(spec)))

    def search_steps(self, plan: Plan) -> Search:
        """The search of a planned request (Poet.plan), as acrostic_steps."""
        spec = plan.spec
        if spec.mode == "sample":
            gen = torch.Generator().manual_seed(plan.params["seed"])
            decoded = yield from sample_steps(
                self.stepper, self.vocab, plan.skeleton, plan.constraints, gen, spec.temperature,
                spec.top_k, spec.top_p, plan.prefix,
            )  # fmt: skip
            return self._poem(plan, decoded)
        finals = yield from beam_steps(
            self.stepper, self.vocab, plan.skeleton, plan.constraints, plan.width, plan.prefix,
            plan.groups, plan.diversity,
        )  # fmt: skip
        return (yield from self.finish_steps(plan, finals))

    def plan(self, spec: PoemSpec) -> Plan:
        """What a search for `spec` needs, and the poem's parameters; raises like `acrostic`."""
        head, cpl, at, search = spec.head, spec.chars_per_line, spec.at, _weights(spec.search)
        theme = head if spec.theme is None else spec.theme
        params: dict = {
            "chars_per_line": cpl,
            "mode": spec.mode,
            "position": spec.position,
            "max_repeat": spec.max_repeat,
            "rhyme": spec.rhyme,
            "tones": spec.tones,
            "novelty": spec.novelty and self.line_index is not None,
            "theme": theme,
        }
        conditioning = self._conditioning(head, params)
        outline = draw_outline(self.planner, self.vocab, spec)
        keyword_ids, feeds = outline_ids(self.vocab, outline)
        if outline is not None:
            params["outline"], params["outline_source"] = list(outline.keywords), outline.source
        skeleton = Skeleton.acrostic(self.vocab, conditioning, cpl, at, feeds)
        penalties = self._penalties(search, spec.recent)
        constraints = poem_constraints(
            self, skeleton, spec, penalties, search.repeat_nats, keyword_ids
        )  # fmt: skip
        prefix = self.vocab.prefix(theme)
        width, groups, diversity = spec.beam_size, 1, 0.0
        if spec.mode == "sample":
            seed = secrets.randbits(31) if spec.seed is None else spec.seed
            params.update(temperature=spec.temperature, top_k=spec.top_k, top_p=spec.top_p)
            params["seed"] = seed
        elif spec.mode == "beam":
            params["beam_size"] = spec.beam_size
        else:
            params["search"] = dataclasses.asdict(search)
            width, groups, diversity = search.width, search.groups, search.diversity
        return Plan(spec, search, params, skeleton, constraints, prefix, width, groups, diversity)

    def finish_steps(self, plan: Plan, finals: list[Decoded]) -> Search:
        """Poet.finish as a search generator: the rerank's pass without the theme (when the
        poem has one) as model steps (engine.rerank.plain_pass), then the poem."""
        plain, needed = None, self.rerank_pass(plan, finals)
        if needed is not None:
            prefix, seqs = needed
            plain = yield from plain_pass(self.stepper, prefix, seqs)
        return self.finish(plan, finals, plain)

    def rerank_pass(self, plan: Plan, finals: list[Decoded]) -> tuple | None:
        """What the rerank's pass without the theme scores for a search's final hypotheses:
        (its prefix, the finalists' ids (N, T)); None when the poem needs no pass."""
        if plan.spec.mode != "diverse" or not self.vocab.themed or plan.search.mi_weight == 0:
            return None  # no themes (or no weight): log p(poem) is the search's own
        prefix = [*self.vocab.prefix(""), self.vocab.form_id(plan.skeleton.chars_per_line)]
        kept = finalists(finals, plan.search.rerank_top)
        return prefix, torch.tensor([c.ids for c in kept], dtype=torch.long)

    def finish(self, plan: Plan, finals: list[Decoded], plain: torch.Tensor | None = None) -> Poem:
        """The poem from a search's final hypotheses (best first): the best one, or the best
        after the mutual-information rerank, given the pass's sums for the finalists
        (`plain`, in rerank_pass's order; None: the model has no themes)."""
        if plan.spec.mode != "diverse":
            return self._poem(plan, finals[0])
        best = rerank(finalists(finals, plan.search.rerank_top), plain, plan.search.mi_weight)[0]
        return self._poem(plan, best.decoded, {"theme_gain": round(best.themed - best.plain, 4)})

    def _penalties(self, search: SearchWeights, recent: Iterable[str]) -> PhrasePenalties:
        """The model's clichés (scaled) and this chat's recent phrases, as one table."""
        table = self._cliches.get(search.cliche_weight)
        if table is None:  # built once per weight: 1,585 n-grams take ~15 ms to index
            cliches = self.loaded.meta.get("cliches", {}).get("ngrams", {})
            scaled = {g: v * search.cliche_weight for g, v in cliches.items()}
            table = PhrasePenalties.from_phrases(scaled, self.vocab.index)
            self._cliches[search.cliche_weight] = table
        recent = list(recent)
        if recent:
            index = self.vocab.index
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

    @functools.cached_property
    def generable(self) -> torch.Tensor:
        """(V,) ids the decoder may choose: basic-block characters only (heads are forced)."""
        return basic_block_mask(self.vocab.tokens)

    def _poem(self, plan: Plan, decoded: Decoded, extra: dict | None = None) -> Poem:
        spec, cpl, params = (
            plan.spec,
            plan.skeleton.chars_per_line,
            {**plan.params, **(extra or {})},
        )
        head, at, tones = spec.head, spec.at, spec.tones
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
        poem = Poem(head, lines, text, self.model_version, decoded.score, params, checks)
        if spec.script == "traditional":
            poem = dataclasses.replace(poem, text=_traditional(text, head, cpl, at))
        return poem

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


def _traditional(text: str, head: str, cpl: int, at: int) -> str:
    """The poem in traditional characters, its head characters as the head converts (the
    title's): a phrase converts as a whole, and 征雁 → 徵雁 would change the head 征 (长征)."""
    shown, heads = list(to_traditional(text)), to_traditional(head)
    if len(shown) != len(text) or len(heads) != len(head):
        return "".join(shown)
    for i, ch in enumerate(heads):
        shown[i * (cpl + 1) + at] = ch
    return "".join(shown)


def _weights(search) -> SearchWeights:
    """The spec's search weights: None is today's defaults; a stored dict is rebuilt."""
    if search is None:
        return DEFAULT_SEARCH
    return search if isinstance(search, SearchWeights) else known_fields(SearchWeights, search)
