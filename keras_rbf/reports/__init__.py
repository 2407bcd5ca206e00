"""Reproductions of the paper's tables and figures: `keras-rbf reproduce DATASET`."""
