"""Defenses compared against RBF blocks: feature squeezing, Gaussian augmentation and
adversarial training."""
