"""Distillation: teachers, the data engine, audio edits, the student model, its trainer and evaluation.

Runs from a source checkout (`pip install -e ".[train]"`); reached through `steptts distill …`.
"""
