"""The `acrostic` command line, on top: one module per command group (poem, card, training,
quality, panel, plan, serving). May import every other folder of bot/."""

from __future__ import annotations

import typer

from bot.cli import card, panel, plan, poem, quality, serving, training
from bot.cli.common import PUBLIC_HEADS

app = typer.Typer(
    help="cangtou — acrostic (藏头诗) poems from a two-layer LSTM.", no_args_is_help=True
)
app.command()(poem.poem)
app.command("eval")(training.eval_command)
app.add_typer(training.corpus_app, name="corpus")
app.command()(training.train)
app.command()(serving.chat)
app.command()(serving.run)
app.command()(serving.retrain)
app.add_typer(serving.db_app, name="db")
app.add_typer(serving.models_app, name="models")
app.add_typer(panel.panel_app, name="panel")
app.add_typer(plan.plan_app, name="plan")
app.command()(quality.cliches)
app.command()(card.card)

__all__ = ["PUBLIC_HEADS", "app"]
