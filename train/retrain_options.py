"""The options of one retrain: declared once, extended by the bot's settings, and handed to the
training child process as JSON (`python -m train.retrain --options FILE`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class RetrainKnobs(BaseModel):
    """How one retrain trains and judges: the bot's settings (CANGTOU_RETRAIN__*) extend this."""

    extra_share: float = Field(0.05, ge=0, lt=0.5)  # cap on the rated poems' share of all poems
    max_repeat: int = Field(20, ge=1)  # each rated poem is seen at most this many times per epoch
    # The whole run's budget: the gate on the current model, training, the candidate's clichés
    # and the gate on the candidate. Training gets what the rest leaves.
    max_minutes: float = Field(30.0, gt=0)
    max_steps: int | None = None
    lr: float = Field(5e-4, gt=0)  # warm start: gentler than training from scratch
    eval_minutes: float = Field(5.0, gt=0)
    tokens_per_batch: int = Field(8192, ge=64)
    # Clichés: measured again on the candidate as `acrostic cliches` does (rounds of generated
    # heads, then rounds of corpus titles), with as many heads a round as cliche_minutes allow
    # up to cliche_heads; below cliche_min_heads a round finds noise, so the parent's table is
    # carried over instead and model.json says so.
    cliche_minutes: float = Field(6.0, ge=0)
    cliche_heads: int = Field(600, ge=1)
    cliche_min_heads: int = Field(200, ge=1)
    cliche_rounds: int = Field(6, ge=1)
    cliche_theme_rounds: int = Field(2, ge=0)
    # The gate, on the default search's 七言 poems for the public heads (111), candidate against
    # current in the same run. Each is how much worse the candidate may be:
    margin: float = Field(0.01, ge=0)  # test cross-entropy, nats/char: noise of a warm start
    compliance_drop: float = Field(0.0, ge=0, le=1)  # format and attested-rhyme rates: none
    # shared 3-gram rate (share of 3-gram occurrences in ≥ 3 of the 111 poems): 0.5 points is
    # about four new formulas of three poems each; ship time measured 0.78–1.09%, and a night
    # without clichés 11.9%
    shared_trigram_rise: float = Field(0.005, ge=0)
    repeat_rise: float = Field(0.15, ge=0)  # repeated characters a poem (v2c: ~0.4)
    theme_information_drop: float = Field(0.01, ge=0)  # nats/char the poems owe their theme
    # The gain a candidate must show to be promoted: its cross-entropy on the rated poems it
    # learned from must fall by this many nats/char. A few percent of rated poems rarely moves
    # the Tang/Song test split, so that split only bounds the loss (margin) and the gain is
    # measured where the new data is; every other metric must hold.
    min_gain: float = Field(0.02, ge=0)
    seed: int = 0


class RetrainOptions(RetrainKnobs):
    """One retrain, handed to the child process as JSON (`--options FILE`)."""

    base: Path  # the model being served: warm start and yardstick
    corpus: Path
    out: Path  # where the candidate is written (invisible to the bot until promoted)
    report: Path  # where the report is written
    extra_texts: list[str] = []  # the rated poems
    heads: list[str] = []  # the public heads the gate writes poems for
