"""Warm starts across a vocabulary change: tokens appended to an older model (the theme
separator, the keyword marker); every id it had keeps its meaning and its weights."""

from __future__ import annotations

import torch

from engine.model import CharLSTM, ModelConfig
from engine.vocab import SEP, Vocab


def add_separator(model: CharLSTM, vocab: Vocab) -> tuple[CharLSTM, Vocab]:
    """The same model with the theme separator appended to the vocabulary."""
    return grow(model, vocab, SEP)


def grow(model: CharLSTM, vocab: Vocab, *tokens: str) -> tuple[CharLSTM, Vocab]:
    """The same model with `tokens` appended to the vocabulary (those it lacks).

    Every existing weight keeps its value; each new embedding row starts at the mean of the
    others and its output row at zero (never a target: the loss is on poem tokens)."""
    grown = vocab.with_tokens(*tokens)
    if grown is vocab:
        return model, vocab
    added = len(grown) - len(vocab)
    cfg = ModelConfig.from_dict({**model.cfg.to_dict(), "vocab_size": len(grown)})
    bigger = CharLSTM(cfg)
    old, new = model.state_dict(), bigger.state_dict()
    for name, value in new.items():
        source = old[name]
        if source.shape == value.shape:
            new[name] = source.clone()
            continue
        # only the embedding and the last output projection have a vocabulary dimension
        assert source.shape[1:] == value.shape[1:] and value.shape[0] == source.shape[0] + added
        if name == "embed.weight":
            extra = source.float().mean(0, keepdim=True).expand(added, -1)
        else:
            extra = torch.zeros_like(source[:1]).expand(added, *source.shape[1:])
        new[name] = torch.cat([source, extra.to(source.dtype)])
    bigger.load_state_dict(new)
    return bigger, grown
