"""Analyses: clustering scores, gradient-masking checks, embeddings, Psi convergence."""
