"""The rules one poem is searched under, as engine.constraints masks: rhyme and tone slots,
the repeat limit, novelty, clichés, and the planned keyword of each line."""

from __future__ import annotations

from engine.constraints import Constraints, Rules
from engine.decode import Skeleton
from engine.forms import STARTS, distinct_end_lines, rhyme_lines, tone_slots
from engine.spec import PoemSpec


def poem_constraints(
    poet, skeleton: Skeleton, spec: PoemSpec, penalties, repeat_nats: float, keywords=()
) -> Constraints:
    """The rules of this poem as masks: rhyme slots, tone slots per start, repeat limit, and
    `keywords` (per line, the ids of its planned keyword)."""
    cpl, n_lines, tones = skeleton.chars_per_line, len(spec.head), spec.tones
    starts = [skeleton.line_start(i) for i in range(n_lines)]
    rhyme_slots = frozenset(starts[i] + cpl - 1 for i in rhyme_lines(n_lines))
    end_slots = frozenset(starts[i] + cpl - 1 for i in distinct_end_lines(n_lines))
    if not spec.rhyme:
        rhyme_slots = frozenset()
    tone_rules: tuple = ()
    if tones:
        per_start = [tone_slots(n_lines, cpl, start) for start in STARTS]
        tone_rules = tuple(
            (slot, tuple(p[slot] for p in per_start)) for slot in sorted(per_start[0])
        )
    rules = Rules(
        spec.max_repeat,
        rhyme_slots,
        tone_rules,
        tones,
        line_starts=frozenset(starts),
        line_ends=frozenset(s + cpl - 1 for s in starts),
        forced=tuple((i, t) for i, t in enumerate(skeleton.slots) if t is not None),
        repeat_nats=repeat_nats,
        end_slots=end_slots,
        keywords=tuple(keywords),
        keyword_spared=rhyme_slots if spec.mode == "sample" else frozenset(),
    )
    masks = poet.masks if rhyme_slots or tone_rules else None
    lines = poet.line_index if spec.novelty else None
    return Constraints(poet.generable, rules, masks, lines, penalties)
