"""The one-step inference path agrees with the nn.Module it was built from."""

import pytest
import torch

from engine.model import CharLSTM, ModelConfig
from engine.stepper import Stepper, int8_available

pytestmark = pytest.mark.unit

# Tolerances on log-probabilities over a 10-step sequence, per precision.
TOLERANCE = {"fp32": 1e-4, "bf16": 0.05, "int8": 0.15}


@pytest.mark.parametrize("cutoffs", [(), (20, 50)])
@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_stepper_matches_the_module(cutoffs, precision):
    if precision == "int8" and not int8_available():
        pytest.skip("no fbgemm int8 kernels in this torch build")
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(100, 16, 32, cutoffs=cutoffs)).eval()
    tokens = torch.randint(0, 100, (3, 10))
    with torch.no_grad():
        h, _ = model(tokens)
        ref = model.log_probs(h.reshape(-1, 32)).view(3, 10, -1)
    stepper = Stepper(model, precision)
    state = stepper.initial(3)
    worst = 0.0
    for t in range(10):
        lp, state = stepper.step(tokens[:, t], state)
        assert torch.allclose(lp.exp().sum(1), torch.ones(3), atol=1e-4)
        worst = max(worst, (lp - ref[:, t]).abs().mean().item())
    assert worst < TOLERANCE[precision]


def test_unknown_precision_is_rejected():
    with pytest.raises(ValueError):
        Stepper(CharLSTM(ModelConfig(20, 4, 8, cutoffs=())), "fp8")


@pytest.mark.parametrize("cutoffs", [(), (20, 50)])
def test_token_log_probs_pick_from_the_full_distribution_and_refuse_foreign_ids(cutoffs):
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(100, 16, 32, cutoffs=cutoffs)).eval()
    stepper = Stepper(model, "int8-rows")
    h = torch.randn(12, 32).tanh()  # an LSTM's outputs lie in [-1, 1]
    tokens = torch.tensor([0, 5, 19, 20, 21, 49, 50, 51, 99, 3, 60, 30])
    full = stepper.log_probs(h).gather(1, tokens.unsqueeze(1)).squeeze(1)
    assert torch.equal(stepper.token_log_probs(h, tokens), full)
    for bad in (100, -1):  # outside the vocabulary: an error, not a neighbour's number
        with pytest.raises(IndexError):
            stepper.token_log_probs(h[:2], torch.tensor([5, bad]))


def test_int8_rows_kernels_agree_bit_for_bit_across_the_row_threshold():
    """fbgemm takes a few rows, oneDNN (or torch._int_mm) more: a row's numbers are the same
    either way, so a poem is the same alone or in any batch."""
    from engine.linears import FBGEMM_ROWS

    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(100, 16, 32, cutoffs=(20, 50))).eval()
    stepper = Stepper(model, "int8-rows")
    rows = 3 * FBGEMM_ROWS
    tokens = torch.randint(0, 100, (rows,))
    state = (torch.rand(2, rows, 32) * 2 - 1, torch.randn(2, rows, 32))
    top, (h, c) = stepper.advance(tokens, state)
    lp = stepper.log_probs(top)
    for lo, hi in ((0, 1), (3, 11), (5, 5 + FBGEMM_ROWS), (7, 7 + FBGEMM_ROWS + 1)):
        few_top, (few_h, few_c) = stepper.advance(
            tokens[lo:hi], (state[0][:, lo:hi], state[1][:, lo:hi])
        )
        assert torch.equal(few_top, top[lo:hi]) and torch.equal(few_h, h[:, lo:hi])
        assert torch.equal(few_c, c[:, lo:hi])
        assert torch.equal(stepper.log_probs(few_top), lp[lo:hi])


def test_int8_rows_saturate_an_input_outside_the_bound_instead_of_wrapping():
    from engine.linears import Int8Rows

    torch.manual_seed(0)
    linear = Int8Rows(torch.randn(8, 4), None, bounded=True)
    for rows in (1, 40):  # fbgemm and oneDNN
        x = torch.ones(rows, 4)
        assert torch.equal(linear(x * 3), linear(x))  # 3 × the bound: clipped to it
        assert torch.allclose(linear(x), x @ linear.w.float() * linear.scale * 63)
