"""The poem options `acrostic poem` and `acrostic card` share (card takes every poem option)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Five = Annotated[bool, typer.Option("--five", help="五言: five characters a line.")]
Seven = Annotated[bool, typer.Option("--seven", help="七言: seven characters a line (default).")]
Beam = Annotated[
    int | None,
    typer.Option(help="Plain beam search of this width instead of the default search."),
]
Sample = Annotated[bool, typer.Option("--sample", help="Sample instead of searching.")]
Theme = Annotated[
    str | None, typer.Option(help="What the poem is about (default: the head itself).")
]
Temperature = Annotated[float, typer.Option(help="Sampling temperature.")]
TopP = Annotated[float, typer.Option(help="Nucleus sampling mass.")]
TopK = Annotated[int, typer.Option(help="Keep only the k likeliest characters (0 = all).")]
Seed = Annotated[int | None, typer.Option(help="Sampling seed (same seed, same poem).")]
Rhyme = Annotated[bool, typer.Option(help="Even lines rhyme in one 平水韵 group.")]
Tones = Annotated[str, typer.Option(help="平仄 pattern: strict, loose or off.")]
Novelty = Annotated[bool, typer.Option(help="Never copy a whole corpus line.")]
Position = Annotated[str, typer.Option(help="head (藏头), tail (藏尾) or 1-7 (藏中).")]
Model = Annotated[Path | None, typer.Option(help="Model directory (default: the shipped model).")]
