"""Model builders, one module per family (keras-hub style)."""
