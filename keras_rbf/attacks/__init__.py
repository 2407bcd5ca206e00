"""Adversarial attacks: thin wrappers over CleverHans 4 / Foolbox 3 and what they lack."""
