"""`python -m bot` is the `codemem` command."""

from bot.cli import app

app()
