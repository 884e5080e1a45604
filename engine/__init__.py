"""Pure inference for cangtou: vocabulary, the LSTM model, model directories, acrostic decoding."""

from engine.heads import HeadError, normalize_head
from engine.poet import Poem, Poet

__all__ = ["HeadError", "Poem", "Poet", "normalize_head"]
