"""`python -m distill data|train|eval …` (what `steptts distill …` runs; torchrun starts it too)."""

from __future__ import annotations

from distill.cli import app
from steptts.cli import run_app

if __name__ == "__main__":
    run_app(app, prog_name="steptts distill")
