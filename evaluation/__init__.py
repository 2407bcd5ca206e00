"""Thin entry points that reproduce the paper's tables and figures (one per table)."""
