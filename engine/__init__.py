"""Pure inference for cangtou: vocabulary, the LSTM model, model directories, acrostic decoding."""

from engine.heads import HeadError, normalize_head
from engine.poet import Poem, Poet
from engine.spec import PoemSpec

__all__ = ["HeadError", "Poem", "PoemSpec", "Poet", "normalize_head"]
