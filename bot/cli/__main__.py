"""`python -m bot.cli …` (and `torchrun -m bot.cli train …`): the `acrostic` command line."""

from bot.cli import app

app()
