"""What one training run is told (TrainOptions), and the device it runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.vocab import KW, SEP
from train.corpus import read_split, read_themed
from train.keywords import read_keywords


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
    # feed each line's own keyword (train.keywords) right before it (appends <kw>): a generator
    # that follows a plan; keyword_dropout of the poems, and of the other lines, go without
    keywords: bool = False
    keyword_dropout: float = 0.25

    @property
    def state_dir(self) -> Path:
        return self.out.parent / f"{self.out.name}.state"


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def split_items(opts: TrainOptions, split: str) -> list:
    """The poems of a split: (theme, poem) pairs when training with themes, else plain text;
    (theme, poem, keywords per line) when training with plans."""
    if not opts.themes:
        return read_split(opts.corpus, split)
    themed = read_themed(opts.corpus, split)
    if not opts.keywords:
        return themed
    plans = read_keywords(opts.corpus, split)
    return [(t, p, k) for (t, p), k in zip(themed, plans, strict=True)]


def new_tokens(opts: TrainOptions) -> tuple[str, ...]:
    """The tokens this run's framing needs (appended to a warm start's vocabulary)."""
    return (SEP, KW) if opts.keywords else (SEP,)
