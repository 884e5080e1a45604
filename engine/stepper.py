"""One-token-at-a-time inference for CharLSTM with the hidden state carried between calls.

The first layer's input gates are precomputed per token (embedding × W_ih + biases), so a step
costs one matmul per layer. Matmuls run in one of four precisions — "int8" (fbgemm dynamic
quantisation: int8 weights per output channel, activations quantised per call), "int8-rows"
(int8 weights per output channel, activations quantised per row, exact int32 accumulation:
a row's result never depends on the rows beside it, which batching across requests needs),
"bf16" or "fp32" — while the LSTM cell state and the softmax stay float32.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from engine.model import CharLSTM

Hidden = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (L, B, H)
PRECISIONS = ("int8", "int8-rows", "bf16", "fp32")


class _Dense:
    """y = x W^T (+ b) with weights in bf16 or fp32."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype):
        self.w = weight.detach().float().T.contiguous().to(dtype)  # (in, out)
        self.b = None if bias is None else bias.detach().float()
        self.dtype = dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.mm(x.to(self.dtype), self.w).float()
        return y if self.b is None else y + self.b


class _Int8:
    """y = x W^T (+ b) through fbgemm's dynamically quantised int8 linear."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        w = weight.detach().float()
        scales = (w.abs().amax(1) / 127).clamp(min=1e-8).double()
        zeros = torch.zeros(w.size(0), dtype=torch.long)
        with warnings.catch_warnings():  # quantised tensors are deprecated; torch is pinned
            warnings.simplefilter("ignore")
            qw = torch.quantize_per_channel(w, scales, zeros, 0, torch.qint8)
            b = None if bias is None else bias.detach().float()
            self.packed = torch.ops.quantized.linear_prepack(qw, b)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic(x.contiguous(), self.packed, True)


class _Int8Rows:
    """y = x W^T (+ b): int8 weights per output channel, x quantised symmetrically per row,
    an integer matmul (exact, so independent of how the library blocks the batch).

    The matmul is oneDNN's int8 linear on weights packed once (u8 × s8 with the row shifted by
    128 and that zero point given back; the int32 sums are exact), else torch._int_mm, which
    repacks the weights at every call: ~1.7× slower at batch 8 and 256 on AVX512/AMX."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        w = weight.detach().float()
        self.scale = (w.abs().amax(1) / 127).clamp(min=1e-8)  # (out,)
        qw = (w / self.scale.unsqueeze(1)).round().to(torch.int8)  # (out, in)
        self.w = qw.T.contiguous()  # (in, out)
        self.b = None if bias is None else bias.detach().float()
        self.packed = _onednn_pack(qw)
        self.zeros = torch.zeros(qw.size(0), dtype=torch.long)

    @staticmethod
    def quantize(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x as int8 per row, shifted by 128 into uint8, and its per-row scale (B, 1));
        layers that share an input share this."""
        sx = x.abs().amax(1, keepdim=True).clamp(min=1e-8) / 127
        return (x / sx).round_().add_(128).to(torch.uint8), sx

    def __call__(self, x: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        qx, sx = self.quantize(x) if isinstance(x, torch.Tensor) else x
        if self.packed is not None:
            y = torch.ops.onednn.qlinear_pointwise(
                qx, 1.0, 128, self.packed, self.scale, self.zeros, None, 1.0, 0,
                torch.float32, "none", [None], "",
            )  # fmt: skip
        else:
            signed = (qx.to(torch.int16) - 128).to(torch.int8)
            y = torch._int_mm(signed, self.w).float().mul_(self.scale)  # exact int32 sums
        y = y.mul_(sx)
        return y if self.b is None else y.add_(self.b)


def _onednn_pack(qw: torch.Tensor) -> torch.Tensor | None:
    """oneDNN's packed form of int8 weights (out, in), or None where oneDNN int8 is missing."""
    try:
        packed = torch.ops.onednn.qlinear_prepack(qw, [1, qw.size(1)])
        probe = torch.full((1, qw.size(1)), 128, dtype=torch.uint8)  # zeros after the shift
        scale, zeros = torch.ones(qw.size(0)), torch.zeros(qw.size(0), dtype=torch.long)
        torch.ops.onednn.qlinear_pointwise(
            probe, 1.0, 128, packed, scale, zeros, None, 1.0, 0, torch.float32, "none", [None], ""
        )  # fmt: skip
        return packed
    except (AttributeError, RuntimeError):
        return None


def int8_available() -> bool:
    """fbgemm (x86) dynamic int8 linear is present in this torch build."""
    engines = torch.backends.quantized.supported_engines
    return ("fbgemm" in engines or "x86" in engines) and hasattr(
        torch.ops.quantized, "linear_dynamic"
    )


def bf16_fast() -> bool:
    """bfloat16 matmuls pay off on CPUs with native bf16 support (AVX512-BF16 / AMX)."""
    try:
        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):
        return False


def default_precision() -> str:
    return "int8" if int8_available() else "bf16" if bf16_fast() else "fp32"


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
            w = {k: v.detach().float() for k, v in lstm.named_parameters()}
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

    @classmethod
    def output_only(cls, model: CharLSTM, precision: str) -> Stepper:
        """Just the output layer (log_probs, token_log_probs) in `precision`: for the top
        layer's outputs of another pass, without the LSTM's tables."""
        stepper = cls.__new__(cls)
        stepper.precision = precision
        with torch.no_grad():
            stepper._prepare_output(model)
        return stepper

    def _linear(self, weight: torch.Tensor, bias: torch.Tensor | None):
        if self.precision == "int8":
            return _Int8(weight, bias)
        if self.precision == "int8-rows":
            return _Int8Rows(weight, bias)
        return _Dense(weight, bias, torch.bfloat16 if self.precision == "bf16" else torch.float32)

    def _prepare_output(self, model: CharLSTM) -> None:
        out = model.out
        if model.adaptive:
            self.shortlist = out.shortlist_size
            self.cutoffs = list(out.cutoffs)  # cluster ends: [shortlist, …, V]
            self.head = self._linear(out.head.weight, out.head.bias)
            self.tails = [
                (self._linear(seq[0].weight, None), self._linear(seq[1].weight, None))
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
        """LSTM cell on precomputed gates (B, 4H) in PyTorch's i, f, g, o order, in few ops,
        into out_h and out_c. The gates are this step's own: overwritten."""
        H = self.H
        g = torch.tanh(gates[:, 2 * H : 3 * H])
        s = gates.sigmoid_()  # g's sigmoid is wasted, but one op beats three
        torch.addcmul(s[:, H : 2 * H] * c, s[:, :H], g, out=out_c)
        torch.mul(s[:, 3 * H :], torch.tanh(out_c), out=out_h)

    @torch.inference_mode()
    def advance(self, tokens: torch.Tensor, state: Hidden) -> tuple[torch.Tensor, Hidden]:
        """Feed tokens (B,); return the top layer's output (B, H) and the new state."""
        hs, cs = state
        new_h, new_c = torch.empty_like(hs), torch.empty_like(cs)
        self._cell(self.hh0(hs[0]).add_(self.in_table[tokens]), cs[0], new_h[0], new_c[0])
        for layer, linear in enumerate(self.upper, start=1):
            gates = linear(torch.cat([new_h[layer - 1], hs[layer]], 1))
            self._cell(gates, cs[layer], new_h[layer], new_c[layer])
        return new_h[-1], (new_h, new_c)

    def step(self, tokens: torch.Tensor, state: Hidden) -> tuple[torch.Tensor, Hidden]:
        """tokens (B,) → next-token log-probabilities (B, V) and the new state."""
        h, state = self.advance(tokens, state)
        return self.log_probs(h), state

    @torch.inference_mode()
    def log_probs(self, h: torch.Tensor) -> torch.Tensor:
        """Full log-probabilities (B, V) from top-layer outputs (B, H)."""
        x = _Int8Rows.quantize(h) if self.precision == "int8-rows" else h  # once for all
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
        with the same operations as token_log_prob."""
        head = F.log_softmax(self.head(h), dim=-1)  # (N, shortlist + clusters)
        if not self.tails:
            return head.gather(1, tokens.unsqueeze(1)).squeeze(1)
        short = self.shortlist
        out = head.gather(1, tokens.clamp(max=short - 1).unsqueeze(1)).squeeze(1)
        lo = short
        for i, (proj, tail_out) in enumerate(self.tails):
            hi = self.cutoffs[i + 1]
            rows = ((tokens >= lo) & (tokens < hi)).nonzero().squeeze(1)
            if rows.numel():
                tail = F.log_softmax(tail_out(proj(h[rows])), dim=-1)
                picked = tail.gather(1, (tokens[rows] - lo).unsqueeze(1)).squeeze(1)
                out[rows] = picked + head[rows, short + i]
            lo = hi
        return out

    @staticmethod
    def reorder(state: Hidden, index: torch.Tensor) -> Hidden:
        """Keep the rows of `index` (beam reordering)."""
        h, c = state
        return h.index_select(1, index), c.index_select(1, index)
