"""The character model: embedding → two-layer LSTM → dropout → (adaptive) softmax."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

State = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    embed_dim: int = 256
    hidden_dim: int = 512
    num_layers: int = 2
    dropout: float = 0.1
    # Adaptive-softmax cluster boundaries over frequency-sorted ids; () means a full softmax.
    cutoffs: tuple[int, ...] = (2000, 5000)
    div_value: float = 4.0

    def effective_cutoffs(self) -> tuple[int, ...]:
        """Cutoffs that fit this vocabulary (tiny test vocabularies fall back to full softmax)."""
        return tuple(c for c in self.cutoffs if 0 < c < self.vocab_size - 1)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        d["cutoffs"] = tuple(d.get("cutoffs", ()))
        return cls(**d)


class CharLSTM(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        V, E, H = cfg.vocab_size, cfg.embed_dim, cfg.hidden_dim
        self.embed = nn.Embedding(V, E)
        self.lstm = nn.LSTM(E, H, cfg.num_layers, batch_first=True, dropout=cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)
        cutoffs = cfg.effective_cutoffs()
        if cutoffs:
            self.out = nn.AdaptiveLogSoftmaxWithLoss(H, V, list(cutoffs), cfg.div_value)
        else:
            self.out = nn.Linear(H, V)

    @property
    def adaptive(self) -> bool:
        return isinstance(self.out, nn.AdaptiveLogSoftmaxWithLoss)

    def forward(
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """tokens (B, T) → top-layer outputs (B, T, H) and the carried state."""
        x = self.drop(self.embed(tokens))  # (B, T, E)
        h, state = self.lstm(x, state)  # (B, T, H)
        return self.drop(h), state

    def nll(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Summed negative log-likelihood of targets (B, T) given outputs h (B, T, H)."""
        h, targets = h.reshape(-1, h.size(-1)), targets.reshape(-1)
        if self.adaptive:  # AdaptiveLogSoftmaxWithLoss mixes dtypes under autocast: keep it fp32
            with torch.autocast(h.device.type, enabled=False):
                return -self.out(h.float(), targets).output.sum()
        return F.cross_entropy(self.out(h).float(), targets, reduction="sum")

    def log_probs(self, h: torch.Tensor) -> torch.Tensor:
        """Full next-token log-probabilities (N, V) for outputs h (N, H)."""
        if self.adaptive:
            return self.out.log_prob(h)
        return F.log_softmax(self.out(h).float(), dim=-1)
