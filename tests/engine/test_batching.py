"""Continuous batching: poems are the same alone or batched; one failing search fails alone."""

from __future__ import annotations

import pytest
import torch

from engine.decode import Predict, answer, drive
from engine.lockstep.scheduler import StepScheduler, batched_answer
from engine.spec import PoemSpec

pytestmark = pytest.mark.unit

SPECS = [
    PoemSpec("春风", chars_per_line=5, mode="beam", beam_size=4),
    PoemSpec("明月清风", chars_per_line=7, mode="beam", beam_size=8),
    PoemSpec("山高水长"),  # the default: diverse groups and the rerank
    PoemSpec("学而", chars_per_line=5, mode="sample", seed=3),
    PoemSpec("天下太平", chars_per_line=7, mode="sample", seed=11, theme="秋夜"),
    PoemSpec("花好月圆", chars_per_line=5, tones="strict", mode="beam", beam_size=3),
]


def alone(poet, spec):
    return StepScheduler(poet.batch_stepper).run({0: poet.acrostic_steps(spec)})[0].result


def test_a_poem_is_the_same_alone_or_in_any_batch(poet):
    expected = [alone(poet, spec) for spec in SPECS]
    scheduler = StepScheduler(poet.batch_stepper)
    together = scheduler.run({i: poet.acrostic_steps(s) for i, s in enumerate(SPECS)})
    assert [together[i].result for i in range(len(SPECS))] == expected
    # joining late, next to a search half-way through: the same again
    late = StepScheduler(poet.batch_stepper)
    late.submit("first", poet.acrostic_steps(SPECS[2]))
    for _ in range(5):
        late.step()
    results = late.run({i: poet.acrostic_steps(s) for i, s in enumerate(SPECS)})
    assert [results[i].result for i in range(len(SPECS))] == expected
    assert scheduler.stats.mean_batch > 1


def test_driving_alone_on_the_batch_stepper_gives_the_same_poem(poet):
    for spec in SPECS:
        assert drive(poet.batch_stepper, poet.acrostic_steps(spec)) == alone(poet, spec)


def test_batched_answers_match_single_answers_row_for_row(poet):
    """Requests of every kind (full, forced, prefix) and size, batched and then one by one."""
    stepper = poet.batch_stepper
    gen = torch.Generator().manual_seed(0)
    V = len(poet.vocab)

    def request(B, forced=None, scores=True):
        state = (torch.randn(2, B, stepper.H, generator=gen), torch.randn(2, B, stepper.H))
        return Predict(torch.randint(V, (B,), generator=gen), state, forced, scores)

    requests = [request(1), request(5, forced=V - 1), request(3), request(1, scores=False)]
    requests.append(request(2, forced=0))
    for request, (lp, state) in zip(requests, batched_answer(stepper, requests), strict=True):
        lp_alone, state_alone = answer(stepper, request)
        assert (lp is None) == (lp_alone is None)
        assert lp is None or torch.equal(lp, lp_alone)  # bit for bit: int8-rows
        assert torch.equal(state[0], state_alone[0]) and torch.equal(state[1], state_alone[1])


def test_a_search_that_raises_fails_alone(poet):
    def broken():
        yield from poet.acrostic_steps(SPECS[0])
        raise RuntimeError("boom")

    def bad_request():
        yield Predict(torch.tensor([10**9]), poet.batch_stepper.initial(1))

    scheduler = StepScheduler(poet.batch_stepper)
    results = scheduler.run(
        {"ok": poet.acrostic_steps(SPECS[1]), "broken": broken(), "bad": bad_request()}
    )
    assert isinstance(results["broken"].error, RuntimeError)
    assert isinstance(results["bad"].error, IndexError)
    assert results["ok"].error is None and results["ok"].result == alone(poet, SPECS[1])
    assert not scheduler.active
