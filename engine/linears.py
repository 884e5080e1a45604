"""The matmuls a Stepper runs in: "int8" (fbgemm dynamic quantisation: int8 weights per output
channel, activations quantised per call), "int8-rows" (int8 weights per output channel,
activations as 7-bit integers per row, exact int32 sums: a row's result never depends on the
rows beside it, which batching across requests needs), "bf16" or "fp32"; and which of them
this machine runs fast."""

from __future__ import annotations

import warnings

import torch

PRECISIONS = ("int8", "int8-rows", "bf16", "fp32")


class Dense:
    """y = x W^T (+ b) with weights in bf16 or fp32."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype):
        self.w = weight.detach().float().T.contiguous().to(dtype)  # (in, out)
        self.b = None if bias is None else bias.detach().float()
        self.dtype = dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.mm(x.to(self.dtype), self.w).float()
        return y if self.b is None else y + self.b


class Int8Dynamic:
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


STEPS = 63  # an int8-rows input is 7-bit integers: fbgemm's u8 × s8 pairs never saturate
FBGEMM_ROWS = 16  # up to this many rows fbgemm's int8 linear beats oneDNN's (8 rows: ~10%)


def quantize(x: torch.Tensor, bounded: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """x (B, in) as Int8Rows takes it: integers in [-63, 63] and the row scale (B, 1).

    `bounded`: x lies in [-1, 1] (an LSTM's h), so the step is a fixed 1/63 (folded into the
    weights' scales; the scale is None); else each row's maximum maps to 63. Few rows stay
    float for fbgemm, more are shifted by 128 into uint8 for oneDNN; layers that share an
    input share this."""
    if bounded:
        q, sx = (x * STEPS).round_().clamp_(-STEPS, STEPS), None
    else:
        sx = x.abs().amax(1, keepdim=True).clamp_(min=1e-8).div_(STEPS)
        q = (x / sx).round_()
    if q.size(0) > FBGEMM_ROWS:
        q = q.add_(128).to(torch.uint8)
    return q, sx


def take_rows(x, rows: torch.Tensor):
    """Some rows of a linear's input: a tensor, or quantize's (integers, row scale or None)."""
    if isinstance(x, torch.Tensor):
        return x.index_select(0, rows)
    q, sx = x
    return q.index_select(0, rows), None if sx is None else sx.index_select(0, rows)


class Int8Rows:
    """y = x W^T (+ b): int8 weights per output channel, x as 7-bit integers per row
    (quantize, above), an integer matmul (exact int32 sums, so a row's result never
    depends on the rows beside it, which batching across requests needs).

    Three kernels give the same numbers: fbgemm's int8 linear for up to FBGEMM_ROWS rows,
    oneDNN's on weights packed once (u8 × s8 with the row shifted by 128 and that zero point
    given back) for more, else torch._int_mm (which repacks the weights at every call)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, bounded: bool = False):
        w = weight.detach().float()
        scale = (w.abs().amax(1) / 127).clamp(min=1e-8)  # (out,)
        qw = (w / scale.unsqueeze(1)).round().to(torch.int8)  # (out, in)
        self.bounded = bounded
        self.scale = scale / STEPS if bounded else scale  # a fixed input step folded in
        self.w = qw.T.contiguous()  # (in, out)
        self.b = None if bias is None else bias.detach().float()
        self.packed = _onednn_pack(qw)
        self.fbgemm = _fbgemm_pack(qw, self.scale)
        self.zeros = torch.zeros(qw.size(0), dtype=torch.long)

    def __call__(self, x: torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]) -> torch.Tensor:
        q, sx = quantize(x, self.bounded) if isinstance(x, torch.Tensor) else x
        fused = False  # oneDNN adds the bias bit for bit as add_ would; fbgemm does not
        if q.is_floating_point() and self.fbgemm is not None:
            y = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(
                q, 1.0, 64, self.fbgemm
            )
        else:
            if q.is_floating_point():
                q = q.add(128).to(torch.uint8)
            if self.packed is not None:
                fused = sx is None and self.b is not None
                y = torch.ops.onednn.qlinear_pointwise(
                    q, 1.0, 128, self.packed, self.scale, self.zeros, self.b if fused else None,
                    1.0, 0, torch.float32, "none", [None], "",
                )  # fmt: skip
            else:
                signed = (q.to(torch.int16) - 128).to(torch.int8)
                y = torch._int_mm(signed, self.w).float().mul_(self.scale)
        if sx is not None:
            y = y.mul_(sx)
        return y if self.b is None or fused else y.add_(self.b)


def _fbgemm_pack(qw: torch.Tensor, scale: torch.Tensor):
    """fbgemm's packed form of int8 weights (out, in) with their scales, or None where it is
    missing; its kernel takes the input as floats holding 7-bit integers (zero point 64)."""
    try:
        with warnings.catch_warnings():  # quantised tensors are deprecated; torch is pinned
            warnings.simplefilter("ignore")
            zeros = torch.zeros(qw.size(0), dtype=torch.long)
            q = torch._make_per_channel_quantized_tensor(qw, scale.double(), zeros, 0)
            packed = torch.ops.quantized.linear_prepack(q, None)
            probe = torch.zeros(1, qw.size(1))
            torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(
                probe, 1.0, 64, packed
            )
        return packed
    except (AttributeError, RuntimeError):
        return None


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
