"""Defenses compared against RBF blocks: feature squeezing, Gaussian augmentation, adversarial training."""
