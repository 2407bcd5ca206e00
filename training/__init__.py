"""Thin entry points that reproduce the zoo's published weights (one per family)."""
