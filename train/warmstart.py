"""Warm starts across a vocabulary change: the theme separator appended to an older model."""

from __future__ import annotations

import torch

from engine.model import CharLSTM, ModelConfig
from engine.vocab import Vocab


def add_separator(model: CharLSTM, vocab: Vocab) -> tuple[CharLSTM, Vocab]:
    """The same model with one more token, the theme separator, appended to the vocabulary.

    Every existing weight keeps its value; the new embedding row starts at the mean of the
    others and its output row at zero (it is never a target: the loss is on poem tokens)."""
    if vocab.themed:
        return model, vocab
    grown = vocab.with_separator()
    cfg = ModelConfig.from_dict({**model.cfg.to_dict(), "vocab_size": len(grown)})
    bigger = CharLSTM(cfg)
    old, new = model.state_dict(), bigger.state_dict()
    for name, value in new.items():
        source = old[name]
        if source.shape == value.shape:
            new[name] = source.clone()
            continue
        # only the embedding and the last output projection have a vocabulary dimension
        assert source.shape[1:] == value.shape[1:] and value.shape[0] == source.shape[0] + 1
        extra = source.float().mean(0, keepdim=True) if name == "embed.weight" else None
        if extra is None:
            extra = torch.zeros_like(source[:1])
        new[name] = torch.cat([source, extra.to(source.dtype)])
    bigger.load_state_dict(new)
    return bigger, grown
