"""The time-spent bench's ledger: it counts each int8 matmul's multiply-adds under the phase
that ran it, keeps a phase's time apart from its callers', and puts every method back."""

import pytest
import torch

from engine.linears import int8_available
from engine.spec import PoemSpec
from engine.stepper import Stepper
from tests.bench.time_spent import LSTM, OUTPUT, OUTSIDE, SEARCH, Ledger, batched, worker

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(not int8_available(), reason="int8 kernels missing in this torch"),
]


def test_a_model_step_counts_its_multiply_adds_as_the_lstm(poet):
    stepper = poet.batch_stepper
    H, L = stepper.H, stepper.L
    rows = 40  # oneDNN's kernel (over 16 rows)
    ledger = Ledger()
    advance, kernel = Stepper.__dict__["advance"], torch.ops.onednn.qlinear_pointwise
    with ledger.watching():
        stepper.advance(torch.zeros(rows, dtype=torch.long), stepper.initial(rows))
    per_row = H * 4 * H + (L - 1) * (2 * H) * (4 * H)  # the first layer's h, then [x, h]
    assert ledger.macs == {"Stepper.advance": rows * per_row}
    assert ledger.kernel["Stepper.advance"] > 0
    assert Stepper.__dict__["advance"] is advance  # put back
    assert torch.ops.onednn.qlinear_pointwise is kernel


def test_matmuls_fall_in_the_lstm_and_output_parts_and_phases_keep_only_their_own_time(poet):
    ledger = Ledger()
    specs = [PoemSpec(head, mode="diverse") for head in ("春风", "明月", "山水", "秋夜")]
    with ledger.watching():
        seconds, poems = batched(poet, specs, inflight=3, steps=60, ledger=ledger)
    assert poems > 0
    parts = ledger.parts(seconds)
    assert parts[SEARCH][1:] == (0.0, 0)  # the search itself runs no matmul
    for part in (LSTM, OUTPUT):
        wall, kernel, macs = parts[part]
        assert 0 < kernel <= wall and macs > 0
    # each phase's own time: nested phases (advance inside _model_step inside step) would
    # count the same seconds twice or three times if callers kept their callees' time
    assert sum(t for label, t in ledger.wall.items() if label != OUTSIDE) <= seconds


def test_the_worker_path_is_measured_with_the_direct_stepper(poet):
    ledger = Ledger()
    with ledger.watching():
        seconds, poems = worker(poet, [PoemSpec("春风", mode="beam", beam_size=4)] * 2, ledger)
    assert poems == 2 and seconds > 0
    assert ledger.macs["Stepper.advance"] > 0 and ledger.macs["Stepper.log_probs"] > 0
    assert not any(label.startswith("Lockstep") for label in ledger.wall)
