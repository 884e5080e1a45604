"""Formula habits of a run of poems: shared 3-grams, repeated characters, repeated rhyme ends;
and how much a poem owes its theme."""

from __future__ import annotations

import collections

import torch

from engine.forms import rhyme_lines
from engine.model import CharLSTM
from engine.rerank import sequence_log_probs
from engine.rules import repeated_rhyme_ends
from engine.vocab import Vocab
from train.cliches import trigrams

SHARED_IN = 3  # a 3-gram is "shared" when at least this many poems of the run contain it


def formula_metrics(poems: list[list[str]]) -> dict:
    """Over a run of poems (each a list of lines):
    - shared_trigram_rate: 3-gram occurrences whose 3-gram is in ≥ 3 poems, over all;
    - repeated_chars_per_poem: characters that repeat an earlier one, per poem;
    - same_rhyme_char_poems: poems whose rhyming lines end in the same character twice."""
    per_poem = [trigrams(lines) for lines in poems]
    in_poems = collections.Counter(g for grams in per_poem for g in grams)
    occurrences = [
        line[i : i + 3] for lines in poems for line in lines for i in range(len(line) - 2)
    ]
    shared = sum(in_poems[g] >= SHARED_IN for g in occurrences)
    repeats = sum(len("".join(lines)) - len(set("".join(lines))) for lines in poems)
    same_rhyme = sum(bool(repeated_rhyme_ends(lines, rhyme_lines(len(lines)))) for lines in poems)
    n = max(len(poems), 1)
    return {
        "shared_trigram_rate": round(shared / max(len(occurrences), 1), 4),
        "repeated_chars_per_poem": round(repeats / n, 3),
        "same_rhyme_char_poems": same_rhyme,
        "most_shared_trigrams": [g for g, c in in_poems.most_common(8) if c >= SHARED_IN],
    }


@torch.no_grad()
def theme_information(model: CharLSTM, vocab: Vocab, pairs: list[tuple[str, str]]) -> float | None:
    """Mean per-character log p(poem | theme) − log p(poem | no theme) over (theme, poem)
    pairs, in nats; None for a model that was not trained with themes."""
    if not vocab.themed:
        return None
    total = count = 0.0
    for theme, text in pairs:
        width = len(text.split("，", 1)[0])
        seq = torch.tensor([[vocab.id(ch) for ch in text] + [vocab.eos]])
        form = [vocab.form_id(width)]
        themed = sequence_log_probs(model, vocab.prefix(theme) + form, seq)
        plain = sequence_log_probs(model, vocab.prefix("") + form, seq)
        total += float(themed - plain)
        count += seq.size(1)
    return round(total / max(count, 1), 4)
