"""What one training run is told (TrainOptions), and the device it runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch


@dataclass
class TrainOptions:
    corpus: Path
    out: Path
    embed_dim: int = 256
    hidden_dim: int = 512
    dropout: float = 0.1
    cutoffs: tuple[int, ...] = (2000, 5000)
    lr: float = 2e-3
    tokens_per_batch: int = 8192
    epochs: int = 1000
    max_minutes: float | None = None
    max_steps: int | None = None  # stop early (resumable) without changing the LR schedule
    eval_minutes: float = 5.0
    seed: int = 0
    resume: bool = False
    dry_run: bool = False
    device: str = "auto"
    amp: str = "auto"  # "bf16" autocast, "off", or "auto" (bf16 on CUDA, off on CPU)
    min_count: int = 2
    extra_texts: list[str] = field(default_factory=list)
    progress: bool = True
    init_from: Path | None = None  # warm start: this model's weights, config and vocabulary
    themes: bool = True  # frame each poem with its title as the theme (appends <sep>)
    theme_dropout: float = 0.25  # share of poems trained without their theme: p(poem) too

    @property
    def state_dir(self) -> Path:
        return self.out.parent / f"{self.out.name}.state"


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
