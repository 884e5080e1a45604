"""One-token-at-a-time inference for CharLSTM with the hidden state carried between calls.

The first layer's input gates are precomputed per token (embedding × W_ih + biases), so a step
costs one matmul per layer. The cell's tanh is 2·sigmoid(2x) − 1 (this torch's tanh costs
about six sigmoids per element), with the 2 folded into the g gate's weights (exactly: a
power of two). Matmuls run in one of four precisions (engine.linears): "int8",
"int8-rows" (a row's result never depends on the rows beside it, which batching across
requests needs), "bf16" or "fp32" — while the LSTM cell state and the softmax stay float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.linears import (
    PRECISIONS,
    Dense,
    Int8Dynamic,
    Int8Rows,
    default_precision,
    int8_available,  # noqa: F401 (part of this module's interface)
    quantize,
    take_rows,
)
from engine.model import CharLSTM

Hidden = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (L, B, H)

BATCH_PRECISION = "int8-rows"  # a row's numbers do not depend on its batch (engine.lockstep)


def _double_g(value: torch.Tensor) -> torch.Tensor:
    """An LSTM weight or bias with its g gate's rows (the third quarter) times 2, so the
    cell's sigmoid gives sigmoid(2g) for tanh(g) = 2·sigmoid(2g) − 1 (exact: a power of two,
    and int8 scales per output channel double with it)."""
    H = value.size(0) // 4
    value = value.clone()
    value[2 * H : 3 * H] *= 2
    return value


class Stepper:
    """Weights rearranged for batch-of-beams decoding; no autograd, no nn.Module overhead."""

    def __init__(self, model: CharLSTM, precision: str | None = None):
        precision = precision or default_precision()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}")
        self.precision = precision
        lstm, cfg = model.lstm, model.cfg
        self.H, self.L = cfg.hidden_dim, cfg.num_layers
        with torch.no_grad():
            w = {k: _double_g(v.detach().float()) for k, v in lstm.named_parameters()}
            emb = model.embed.weight.detach().float()
            self.in_table = (
                emb @ w["weight_ih_l0"].T + w["bias_ih_l0"] + w["bias_hh_l0"]
            )  # (V, 4H)
            self.hh0 = self._linear(w["weight_hh_l0"], None)  # (B, H) → (B, 4H)
            self.upper = [
                self._linear(
                    torch.cat([w[f"weight_ih_l{i}"], w[f"weight_hh_l{i}"]], 1),  # (4H, 2H)
                    w[f"bias_ih_l{i}"] + w[f"bias_hh_l{i}"],
                )
                for i in range(1, self.L)
            ]
            self._prepare_output(model)

    def _linear(self, weight: torch.Tensor, bias: torch.Tensor | None, bounded: bool = True):
        """A linear layer in this precision; `bounded`: its input is an LSTM's h, in [-1, 1]."""
        if self.precision == "int8":
            return Int8Dynamic(weight, bias)
        if self.precision == "int8-rows":
            return Int8Rows(weight, bias, bounded)
        return Dense(weight, bias, torch.bfloat16 if self.precision == "bf16" else torch.float32)

    def _prepare_output(self, model: CharLSTM) -> None:
        out = model.out
        self.V = out.n_classes if model.adaptive else out.weight.size(0)
        if model.adaptive:
            self.shortlist = out.shortlist_size
            self.cutoffs = list(out.cutoffs)  # cluster ends: [shortlist, …, V]
            self.head = self._linear(out.head.weight, out.head.bias)
            self.tails = [
                (self._linear(seq[0].weight, None), self._linear(seq[1].weight, None, False))
                for seq in out.tail
            ]
        else:
            self.shortlist = None
            self.cutoffs = []
            self.head = self._linear(out.weight, out.bias)
            self.tails = []

    def initial(self, B: int) -> Hidden:
        """Zero state: (h, c), each (L, B, H)."""
        zeros = torch.zeros(self.L, B, self.H)
        return zeros, zeros.clone()

    def _cell(self, gates, c, out_h, out_c) -> None:
        """LSTM cell on precomputed gates (B, 4H) in PyTorch's i, f, 2g, o order (g doubled
        by _double_g), into out_h and out_c; tanh(x) as 2·sigmoid(2x) − 1. The gates are this
        step's own: overwritten."""
        H = self.H
        s = gates.sigmoid_()  # i, f, o and sigmoid(2g) in one op
        g = s[:, 2 * H : 3 * H].mul_(2).sub_(1)  # tanh(g)
        torch.mul(s[:, H : 2 * H], c, out=out_c).addcmul_(s[:, :H], g)
        tanh_c = torch.mul(out_c, 2).sigmoid_().mul_(2).sub_(1)
        torch.mul(s[:, 3 * H :], tanh_c, out=out_h)

    @torch.inference_mode()
    def advance(self, tokens: torch.Tensor, state: Hidden) -> tuple[torch.Tensor, Hidden]:
        """Feed tokens (B,); return the top layer's output (B, H) and the new state."""
        hs, cs = state
        new_h, new_c = torch.empty_like(hs), torch.empty_like(cs)
        self._cell(
            self.hh0(hs[0]).add_(self.in_table.index_select(0, tokens)), cs[0], new_h[0], new_c[0]
        )
        for layer, linear in enumerate(self.upper, start=1):
            gates = linear(torch.cat([new_h[layer - 1], hs[layer]], 1))
            self._cell(gates, cs[layer], new_h[layer], new_c[layer])
        return new_h[-1], (new_h, new_c)

    def step(self, tokens: torch.Tensor, state: Hidden) -> tuple[torch.Tensor, Hidden]:
        """tokens (B,) → next-token log-probabilities (B, V) and the new state."""
        h, state = self.advance(tokens, state)
        return self.log_probs(h), state

    def output_input(self, h: torch.Tensor):
        """h (B, H) as the output layer's first linears take it: quantised once for all of
        them in int8-rows."""
        return quantize(h, bounded=True) if self.precision == "int8-rows" else h

    @torch.inference_mode()
    def log_probs(self, h: torch.Tensor) -> torch.Tensor:
        """Full log-probabilities (B, V) from top-layer outputs (B, H)."""
        x = self.output_input(h)
        head = F.log_softmax(self.head(x), dim=-1)
        if not self.tails:
            return head
        parts = [head[:, : self.shortlist]]
        for i, (proj, out) in enumerate(self.tails):
            tail = F.log_softmax(out(proj(x)), dim=-1)
            parts.append(tail + head[:, self.shortlist + i].unsqueeze(1))
        return torch.cat(parts, 1)

    @torch.inference_mode()
    def token_log_prob(self, h: torch.Tensor, token: int) -> torch.Tensor:
        """(B,) log-probability of one token: only its own softmax cluster is computed."""
        head = F.log_softmax(self.head(h), dim=-1)
        if not self.tails or token < self.shortlist:
            return head[:, token]
        lo = self.shortlist
        for i, (proj, out) in enumerate(self.tails):
            tail = out(proj(h))
            if token < lo + tail.size(1):
                return F.log_softmax(tail, dim=-1)[:, token - lo] + head[:, self.shortlist + i]
            lo += tail.size(1)
        raise IndexError(f"token {token} is outside the vocabulary")

    @torch.inference_mode()
    def token_log_probs(self, h: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """(N,) log-probability of tokens[i] for row i: each row's own softmax cluster only,
        with the same operations as token_log_prob (an id outside the vocabulary raises)."""
        if tokens.numel() and not 0 <= int(tokens.min()) <= int(tokens.max()) < self.V:
            raise IndexError(f"token ids must lie in [0, {self.V})")
        x = self.output_input(h)  # quantised once for the head and the tails
        head = F.log_softmax(self.head(x), dim=-1)  # (N, shortlist + clusters)
        if not self.tails:
            return head.gather(1, tokens.unsqueeze(1)).squeeze(1)
        short = self.shortlist
        out = head.gather(1, tokens.clamp(max=short - 1).unsqueeze(1)).squeeze(1)
        lo = short
        for i, (proj, tail_out) in enumerate(self.tails):
            hi = self.cutoffs[i + 1]
            rows = ((tokens >= lo) & (tokens < hi)).nonzero().squeeze(1)
            if rows.numel():
                tail = F.log_softmax(tail_out(proj(take_rows(x, rows))), dim=-1)
                picked = tail.gather(1, (tokens[rows] - lo).unsqueeze(1)).squeeze(1)
                out[rows] = picked + head[rows, short + i]
            lo = hi
        return out

    @staticmethod
    def reorder(state: Hidden, index: torch.Tensor) -> Hidden:
        """Keep the rows of `index` (beam reordering)."""
        h, c = state
        return h.index_select(1, index), c.index_select(1, index)
