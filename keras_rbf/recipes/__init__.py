"""Training recipes: the loops behind `keras-rbf train` and the `training/` scripts."""
