"""Lockstep's rerank passes: stepped together, each sums exactly what it sums alone."""

from __future__ import annotations

import pytest
import torch

from engine.decode import drive
from engine.lockstep.finish import Passes
from engine.lockstep.search import Lockstep
from engine.rerank import plain_pass
from engine.spec import PoemSpec as _PoemSpec


def PoemSpec(*args, **kwargs) -> _PoemSpec:
    """Poems without a plan: these tests are about the vectorised search step (a planned poem
    runs engine.decode's own search there, tests/engine/test_lexical.py)."""
    return _PoemSpec(*args, **{"outline": False, **kwargs})


pytestmark = pytest.mark.unit


def _finalists(poet, n: int, T: int, seed: int) -> torch.Tensor:
    """Rows that share prefixes as a search's finalists do."""
    gen = torch.Generator().manual_seed(seed)
    seqs = torch.randint(poet.vocab.first_char_id, len(poet.vocab), (n, T), generator=gen)
    seqs[:, :3] = seqs[0, :3].clone()
    if n > 1:
        seqs[1, : T // 2] = seqs[0, : T // 2]
    return seqs


def _prefix(poet, chars: int) -> list[int]:
    return [*poet.vocab.prefix(""), poet.vocab.form_id(chars)]


@pytest.mark.parametrize("levels", [1, 3])  # characters a pass advances per step
def test_passes_joining_at_different_steps_sum_what_each_sums_alone(poet, monkeypatch, levels):
    stepper = poet.batch_stepper
    jobs = {  # key: (joins at step, prefix, finalists)
        "a": (0, _prefix(poet, 7), _finalists(poet, 8, 32, 1)),
        "b": (0, _prefix(poet, 5), _finalists(poet, 5, 24, 2)),
        "c": (3, _prefix(poet, 7), _finalists(poet, 1, 32, 3)),
        "d": (10, _prefix(poet, 5), _finalists(poet, 8, 12, 4)),  # two lines
    }
    alone = {k: drive(stepper, plain_pass(stepper, p, s)) for k, (_, p, s) in jobs.items()}
    passes, sums, step, finished = Passes(poet, stepper, levels), {}, 0, []
    # keep each pass's sums instead of making its poem (the plan stands in for the key)
    monkeypatch.setattr(poet, "finish", lambda plan, finals, plain: sums.setdefault(plan, plain))
    while step == 0 or passes:
        for key, (joins, prefix, seqs) in jobs.items():
            if joins == step:
                passes.submit(key, key, [], prefix, seqs)
        finished += passes.step()
        step += 1
    assert sorted(f.key for f in finished) == sorted(jobs)
    assert all(f.error is None for f in finished)
    for key in jobs:
        assert torch.equal(sums[key], alone[key]), key


def test_a_pass_that_raises_fails_only_its_poem(poet):
    specs = {k: PoemSpec(h) for k, h in enumerate(["春风", "明月清风", "山高水长"])}
    expected = {k: Lockstep(poet).run({k: s})[k].result for k, s in specs.items()}
    lockstep = Lockstep(poet)
    submit = lockstep.passes.submit

    def broken(key, plan, finals, prefix, seqs):
        submit(key, plan, finals, prefix, seqs)
        if key == 1:  # an id past the vocabulary at its fifth level
            lockstep.passes.items[key].levels[4][0][0] = len(poet.vocab) + 7  # fed

    lockstep.passes.submit = broken
    results = lockstep.run(specs)
    assert isinstance(results[1].error, IndexError)
    for key in (0, 2):
        assert results[key].error is None
        assert results[key].result == expected[key]
    assert not lockstep.passes and lockstep.passes.state is None


def test_poems_in_their_pass_do_not_count_as_searches(poet):
    lockstep = Lockstep(poet)
    lockstep.submit("a", PoemSpec("春风", chars_per_line=5))
    while lockstep.requests:
        lockstep.step()
    assert len(lockstep) == 0 and lockstep.active  # only its pass is left
    with pytest.raises(KeyError):
        lockstep.submit("a", PoemSpec("春风"))
    finished = []
    while lockstep.active:
        finished += lockstep.step()
    assert [f.key for f in finished] == ["a"] and finished[0].result.lines


def test_the_generic_step_scheduler_batches_passes_too(poet):
    """plain_pass is a search like any other: engine.lockstep.scheduler runs many (per-row targets)."""
    from engine.lockstep.scheduler import StepScheduler

    stepper = poet.batch_stepper
    jobs = {k: (_prefix(poet, 7), _finalists(poet, 6, 32, k)) for k in range(3)}
    alone = {k: drive(stepper, plain_pass(stepper, p, s)) for k, (p, s) in jobs.items()}
    together = StepScheduler(stepper).run(
        {k: plain_pass(stepper, p, s) for k, (p, s) in jobs.items()}
    )
    for key in jobs:
        assert torch.equal(together[key].result, alone[key]), key
