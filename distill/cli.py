"""`steptts distill …`: data, train and eval commands. Heavy imports happen inside each command."""

from __future__ import annotations

import typer

app = typer.Typer(help="Distil a student from a teacher: make data, train, evaluate.", no_args_is_help=True)
