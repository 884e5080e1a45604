"""Lockstep: many beam searches advanced together write exactly the poems each writes alone."""

from __future__ import annotations

import pytest

from engine import Poet
from engine.decode import drive
from engine.lockstep.search import Lockstep
from engine.spec import PoemSpec as _PoemSpec


def PoemSpec(*args, **kwargs) -> _PoemSpec:
    """Poems without a plan: these tests are about the vectorised search step (a planned poem
    runs engine.decode's own search there, tests/engine/test_lexical.py)."""
    return _PoemSpec(*args, **{"outline": False, **kwargs})


pytestmark = pytest.mark.unit

SPECS = [
    PoemSpec("春风", chars_per_line=5, mode="beam", beam_size=4),
    PoemSpec("明月清风", chars_per_line=7, mode="beam", beam_size=8),
    PoemSpec("山高水长"),  # the default: diverse groups and the rerank
    PoemSpec("天下太平", chars_per_line=7, theme="秋夜", recent=("风月",)),
    PoemSpec("花好月圆", chars_per_line=5, tones="strict", mode="beam", beam_size=3),
    PoemSpec("学而时习", chars_per_line=5, tones="loose"),
    PoemSpec("春江花月", chars_per_line=7, position="tail", mode="beam", beam_size=4),
    PoemSpec("百川", chars_per_line=5, position=3, script="traditional"),
    PoemSpec("学而", chars_per_line=5, mode="sample", seed=3),  # the per-request path
]


def alone(poet: Poet, spec: PoemSpec):
    """The poem engine.decode's own search writes on the batch stepper."""
    return drive(poet.batch_stepper, poet.acrostic_steps(spec))


def texts(results: dict) -> list:
    assert all(done.error is None for done in results.values()), results
    return [(results[i].result.text, results[i].result.params) for i in range(len(results))]


@pytest.mark.parametrize("candidates", [16, 3])  # 3: most steps redo the whole vocabulary
def test_poems_together_are_the_poems_alone(poet, candidates):
    expected = [(p.text, p.params) for p in (alone(poet, s) for s in SPECS)]
    lockstep = Lockstep(poet, candidates)
    assert texts(lockstep.run(dict(enumerate(SPECS)))) == expected
    assert lockstep.stats.mean_batch > 1
    assert lockstep.rollbacks == 0  # no step raised and was quietly re-run poem by poem
    # joining late, beside a poem half-way through, and one by one: the same again
    late = Lockstep(poet, candidates)
    late.submit("first", SPECS[2])
    for _ in range(5):
        late.step()
    results = late.run(dict(enumerate(SPECS)))
    assert results.pop("first").result == alone(poet, SPECS[2])
    assert texts(results) == expected
    assert [Lockstep(poet, candidates).run({0: s})[0].result.text for s in SPECS] == [
        text for text, _ in expected
    ]


def test_the_shipped_model_together_and_alone():
    """The real model: the candidate path decides almost every step (the tiny one's flat
    distributions send most steps to the whole-vocabulary redo)."""
    poet = Poet.load()
    specs = [PoemSpec(h) for h in ("算法进阶", "春夏秋冬", "天地玄黄", "明月")]
    specs += [PoemSpec(h, mode="beam", beam_size=8) for h in ("江山如画", "风花雪月")]
    specs.append(PoemSpec("金木水火", chars_per_line=5, tones="strict"))
    expected = [(p.text, p.params) for p in (alone(poet, s) for s in specs)]
    lockstep = Lockstep(poet)
    redone = []
    redo = lockstep._redo
    lockstep._redo = lambda request, *rest: redone.append(request.key) or redo(request, *rest)
    assert texts(lockstep.run(dict(enumerate(specs)))) == expected
    steps = lockstep.stats.searches
    assert len(redone) < steps / 4, (len(redone), steps)
    assert lockstep.rollbacks == 0


def test_a_poem_whose_first_slot_is_chosen_fans_out_beside_others():
    """藏尾 and 藏中 poems choose slot 0 right after the fan-out to one row per tone start:
    every row must continue from the poem's own state, whoever steps beside it."""
    poet = Poet.load()
    specs = {
        "mid": PoemSpec("明月清风", mode="beam", beam_size=4, position=2),
        "tail": PoemSpec("山水", chars_per_line=5, position="tail", mode="beam", beam_size=4,
                         tones="strict"),
        "themed": PoemSpec("天下太平", mode="beam", beam_size=4, theme="秋夜长思故乡明月"),
        "diverse": PoemSpec("江山", chars_per_line=5, position="tail"),
    }  # fmt: skip
    for later in (("tail", "themed"), ("tail", "themed", "diverse")):
        lockstep = Lockstep(poet)
        lockstep.submit("mid", specs["mid"])
        lockstep.step()
        lockstep.step()
        for key in later:
            lockstep.submit(key, specs[key])
        finished = {}
        while lockstep.active:
            finished.update({done.key: done for done in lockstep.step()})
        for key in ("mid", *later):
            assert finished[key].result == alone(poet, specs[key]), (later, key)
        assert lockstep.rollbacks == 0


def test_more_candidates_than_the_shortlist_holds():
    poet = Poet.load()
    specs = [PoemSpec(h, chars_per_line=5, mode="beam", beam_size=3) for h in ("春风", "秋月")]
    lockstep = Lockstep(poet, candidates=poet.batch_stepper.shortlist + 100)
    assert texts(lockstep.run(dict(enumerate(specs)))) == [
        (p.text, p.params) for p in (alone(poet, s) for s in specs)
    ]
    assert lockstep.rollbacks == 0


def test_tails_left_out_too_eagerly_still_give_the_poems_alone(monkeypatch):
    """A negative margin puts a row's limit above what its group will select: tails are
    skipped where they matter, and the bound must send those requests to the redo."""
    import engine.lockstep.candidates as candidates

    poet = Poet.load()
    specs = [PoemSpec(h) for h in ("算法进阶", "春夏秋冬")]
    specs.append(PoemSpec("江山如画", mode="beam", beam_size=8))
    expected = [(p.text, p.params) for p in (alone(poet, s) for s in specs)]
    redone, usual = {}, candidates.MARGIN
    for margin in (usual, -4.0):
        monkeypatch.setattr(candidates, "MARGIN", margin)
        lockstep, count = Lockstep(poet), []

        def redo(request, *rest, lockstep=lockstep, count=count, original=lockstep._redo):
            count.append(request.key)
            return original(request, *rest)

        lockstep._redo = redo
        assert texts(lockstep.run(dict(enumerate(specs)))) == expected
        assert lockstep.rollbacks == 0
        redone[margin] = len(count)
    assert redone[-4.0] > 2 * redone[usual] + 5, redone  # the bound did send them


def test_a_poem_that_fails_fails_alone(poet):
    broken = PoemSpec("春风", chars_per_line=5)
    object.__setattr__(broken, "chars_per_line", 6)  # past validation: planning raises
    lockstep = Lockstep(poet)
    results = lockstep.run({"ok": SPECS[0], "broken": broken, "also": SPECS[2]})
    assert isinstance(results["broken"].error, KeyError)  # no form token for 6 characters
    assert results["ok"].result == alone(poet, SPECS[0])
    assert results["also"].result == alone(poet, SPECS[2])


def test_a_step_that_raises_rolls_back_and_fails_only_its_poem(poet, monkeypatch):
    lockstep = Lockstep(poet)
    for key, spec in enumerate(SPECS[:4]):
        lockstep.submit(key, spec)
    for _ in range(6):
        lockstep.step()
    doomed = lockstep.requests[1]
    advance = lockstep._advance

    def breaks(request, *rest, **kw):
        if request is doomed:
            raise RuntimeError("boom")
        return advance(request, *rest, **kw)

    monkeypatch.setattr(lockstep, "_advance", breaks)
    finished = {}
    while lockstep.active:
        finished.update({done.key: done for done in lockstep.step()})
    assert isinstance(finished[1].error, RuntimeError)
    assert lockstep.rollbacks >= 1
    for key in (0, 2, 3):  # rolled back and retried alone: nothing applied twice
        assert finished[key].result == alone(poet, SPECS[key])


def test_a_repeated_key_is_refused(poet):
    lockstep = Lockstep(poet)
    lockstep.submit("a", SPECS[0])
    with pytest.raises(KeyError):
        lockstep.submit("a", SPECS[1])


def test_a_model_step_that_raises_fails_only_its_poem(poet):
    lockstep = Lockstep(poet)
    for key, spec in enumerate(SPECS[:4]):
        lockstep.submit(key, spec)
    for _ in range(6):
        lockstep.step()
    lockstep.requests[2].tokens = lockstep.requests[2].tokens + len(poet.vocab)  # no such id
    finished = {}
    while lockstep.active:
        finished.update({done.key: done for done in lockstep.step()})
    assert isinstance(finished[2].error, IndexError)
    for key in (0, 1, 3):  # rolled back and stepped alone: the poems they write alone
        assert finished[key].result == alone(poet, SPECS[key])


def test_equal_scores_are_chosen_in_the_same_order_together_and_alone():
    """Loose tones at a line's second slot: the rows of a poem's tone patterns often hold the
    same score for the same character, and which row keeps it decides the pattern. torch's
    topk orders equal values its own way for each layout (candidates here, the whole
    vocabulary alone); both searches take them in (row, id) order instead (engine.top)."""
    poet = Poet.load()
    heads = ("勤能补拙", "金榜题名", "精益求精", "锦绣前程")
    specs = [PoemSpec(h, chars_per_line=5, tones="loose") for h in heads]
    specs += [PoemSpec("算法进阶"), PoemSpec("江山如画", mode="beam", beam_size=8)]
    expected = [(p.text, p.params) for p in (alone(poet, s) for s in specs)]
    lockstep = Lockstep(poet)
    assert texts(lockstep.run(dict(enumerate(specs)))) == expected


def test_a_model_without_the_corpus_lines_still_steps_its_poems_together(tiny_model_dir):
    """A model directory saved without the corpus's line hashes (no novelty rule): the
    selection must not need them, or every step would raise and run poem by poem."""
    poet = Poet.load(tiny_model_dir)
    poet.line_index = None
    specs = [PoemSpec("春风", chars_per_line=5, mode="beam", beam_size=4), PoemSpec("山高水长")]
    specs.append(PoemSpec("明月清风", chars_per_line=7, mode="beam", beam_size=8))
    expected = [(p.text, p.params) for p in (alone(poet, s) for s in specs)]
    lockstep = Lockstep(poet)
    assert texts(lockstep.run(dict(enumerate(specs)))) == expected
    assert lockstep.rollbacks == 0
