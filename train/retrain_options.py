"""The options of one retrain: declared once, extended by the bot's settings, and handed to the
training child process as JSON (`python -m train.retrain --options FILE`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class RetrainKnobs(BaseModel):
    """How one retrain trains and judges: the bot's settings (CANGTOU_RETRAIN__*) extend this."""

    extra_share: float = Field(0.05, ge=0, lt=0.5)  # cap on the rated poems' share of all poems
    max_repeat: int = Field(20, ge=1)  # each rated poem is seen at most this many times per epoch
    max_minutes: float = Field(30.0, gt=0)
    max_steps: int | None = None
    lr: float = Field(5e-4, gt=0)  # warm start: gentler than training from scratch
    eval_minutes: float = Field(5.0, gt=0)
    tokens_per_batch: int = Field(8192, ge=64)
    margin: float = Field(0.01, ge=0)  # nats/char the candidate may lose on the test split
    compliance_drop: float = Field(0.0, ge=0, le=1)  # how far format/rhyme rates may fall
    seed: int = 0


class RetrainOptions(RetrainKnobs):
    """One retrain, handed to the child process as JSON (`--options FILE`)."""

    base: Path  # the model being served: warm start and yardstick
    corpus: Path
    out: Path  # where the candidate is written (invisible to the bot until promoted)
    report: Path  # where the report is written
    extra_texts: list[str] = []  # the rated poems
    heads: list[str] = []  # for the compliance check
