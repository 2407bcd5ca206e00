"""The attacks' gradient and compilation on the PyTorch backend."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

FIXED_SHAPES = False  # eager: any batch size costs nothing extra


def value_and_grad(f: Callable) -> Callable:
    """`(x, *args) -> (loss, aux, d sum(loss) / dx)` for `f(x, *args) -> (loss, aux)`."""

    def g(x, *args):
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            loss, aux = f(x, *args)
            (grad,) = torch.autograd.grad(loss.sum(), x)
        return loss.detach(), _detach(aux), grad

    return g


def _detach(tree):
    if isinstance(tree, torch.Tensor):
        return tree.detach()
    if isinstance(tree, (tuple, list)):
        return type(tree)(_detach(v) for v in tree)
    if isinstance(tree, dict):
        return {k: _detach(v) for k, v in tree.items()}
    return tree


def compile(f: Callable) -> Callable:  # noqa: A001 - the name every backend module shares
    """`f` run eagerly without autograd's bookkeeping (only `value_and_grad` records):
    `torch.compile` would need a C++ compiler and minutes per shape on CPU."""

    @functools.wraps(f)
    def run(*args, **kwargs):
        with torch.no_grad():
            return f(*args, **kwargs)

    return run
