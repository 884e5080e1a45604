"""One-token-at-a-time inference for CharLSTM with the hidden state carried between calls.

The first layer's input gates are precomputed per token (embedding × W_ih + biases), so a step
costs one matmul per layer; matmuls may run in bfloat16 while the cell state stays float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.model import CharLSTM

Hidden = tuple[list[torch.Tensor], list[torch.Tensor]]


class Stepper:
    """Weights rearranged for batch-of-beams decoding; no autograd, no nn.Module overhead."""

    def __init__(self, model: CharLSTM, dtype: torch.dtype = torch.float32):
        lstm, cfg = model.lstm, model.cfg
        self.dtype, self.H, self.L = dtype, cfg.hidden_dim, cfg.num_layers
        with torch.no_grad():
            w = {k: v.detach().float() for k, v in lstm.named_parameters()}
            emb = model.embed.weight.detach().float()
            self.in_table = (
                emb @ w["weight_ih_l0"].T + w["bias_ih_l0"] + w["bias_hh_l0"]
            )  # (V, 4H)
            self.w_hh0 = w["weight_hh_l0"].T.contiguous().to(dtype)  # (H, 4H)
            self.upper = [
                (
                    torch.cat([w[f"weight_ih_l{i}"], w[f"weight_hh_l{i}"]], 1)
                    .T.contiguous()
                    .to(dtype),
                    w[f"bias_ih_l{i}"] + w[f"bias_hh_l{i}"],
                )  # (2H, 4H), (4H,)
                for i in range(1, self.L)
            ]
            self._prepare_output(model)

    def _prepare_output(self, model: CharLSTM) -> None:
        out, dt = model.out, self.dtype
        if model.adaptive:
            self.shortlist = out.shortlist_size
            self.head_w = (
                out.head.weight.detach().T.contiguous().to(dt)
            )  # (H, shortlist + clusters)
            self.head_b = None if out.head.bias is None else out.head.bias.detach().float()
            self.tails = [
                (
                    seq[0].weight.detach().T.contiguous().to(dt),
                    seq[1].weight.detach().T.contiguous().to(dt),
                )
                for seq in out.tail
            ]
        else:
            self.shortlist = None
            self.head_w = out.weight.detach().T.contiguous().to(dt)
            self.head_b = out.bias.detach().float()
            self.tails = []

    def initial(self, B: int) -> Hidden:
        zeros = [torch.zeros(B, self.H) for _ in range(self.L)]
        return zeros, [z.clone() for z in zeros]

    @staticmethod
    def _cell(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i, f, g, o = gates.chunk(4, 1)  # PyTorch's gate order
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    @torch.no_grad()
    def step(self, tokens: torch.Tensor, state: Hidden) -> tuple[torch.Tensor, Hidden]:
        """tokens (B,) → next-token log-probabilities (B, V) and the new state."""
        hs, cs = state
        gates = (
            self.in_table[tokens] + torch.mm(hs[0].to(self.dtype), self.w_hh0).float()
        )  # (B, 4H)
        h, c = self._cell(gates, cs[0])
        new_h, new_c = [h], [c]
        for layer, (w, b) in enumerate(self.upper, start=1):
            x = torch.cat([h, hs[layer]], 1).to(self.dtype)  # (B, 2H)
            h, c = self._cell(torch.mm(x, w).float() + b, cs[layer])
            new_h.append(h)
            new_c.append(c)
        return self.log_probs(h), (new_h, new_c)

    def log_probs(self, h: torch.Tensor) -> torch.Tensor:
        """Full log-probabilities (B, V) from top-layer outputs (B, H)."""
        x = h.to(self.dtype)
        head = torch.mm(x, self.head_w).float()
        if self.head_b is not None:
            head = head + self.head_b
        head = F.log_softmax(head, dim=-1)
        if not self.tails:
            return head
        parts = [head[:, : self.shortlist]]
        for i, (proj, out) in enumerate(self.tails):
            tail = F.log_softmax(torch.mm(torch.mm(x, proj), out).float(), dim=-1)
            parts.append(tail + head[:, self.shortlist + i].unsqueeze(1))
        return torch.cat(parts, 1)

    @staticmethod
    def reorder(state: Hidden, index: torch.Tensor) -> Hidden:
        """Keep the rows of `index` (beam reordering)."""
        hs, cs = state
        return [h.index_select(0, index) for h in hs], [c.index_select(0, index) for c in cs]
