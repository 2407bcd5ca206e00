"""The reports' PNG figures: the paper's Fig. 3, 4 and 6 for the classification report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_rbf.reports.features import layer_features

__all__ = ["fig3", "fig4", "fig6", "pyplot"]


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fig3(out: Path, curves: dict, n: int, pgd_settings: dict) -> str:
    """Fig. 3: accuracy vs eps (PGD, Gaussian noise) and input-gradient norms.

    Args:
        out: folder written to.
        curves: `{model: {"pgd": [eps, acc], "gn": [eps, acc], "grad_l1": (n,)}}`.
        n: images the curves were measured on.
        pgd_settings: Table 1's PGD settings (the curves use them).

    Returns:
        The file name written.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.0))
    for name, c in curves.items():
        axes[0].plot(*c["pgd"], marker="o", label=name)
        axes[1].plot(*c["gn"], marker="o", label=name)
        axes[2].hist(np.log10(c["grad_l1"] + 1e-12), bins=40, alpha=0.6, label=name)
    axes[0].set(xlabel="L-inf eps", ylabel="accuracy", title="PGD (Fig. 3a)")
    axes[1].set(xlabel="L2 eps", ylabel="accuracy", title="Gaussian noise (Fig. 3a)")
    axes[2].set(xlabel="log10 ||dL/dx||_1", ylabel="images", title="Input gradients (Fig. 3b)")
    for ax in axes:
        ax.legend()
    fig.suptitle(
        f"n = {n} test images; PGD {pgd_settings.get('nb_iter')} iterations "
        "(Table 1's settings), an image broken at one eps counts as broken above it",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(out / "fig3_masking.png", dpi=110)
    plt.close(fig)
    return "fig3_masking.png"


def fig4(out: Path, models: dict, x, y, seed: int, stages) -> str:
    """Fig. 4: t-SNE (after PCA to 50 components) of each distinct layer's features.

    Args:
        out: folder written to.
        models: `{name: model}`.
        x, y: the images embedded and their labels (the colours).
        seed: PCA's and t-SNE's seed.
        stages: the report's timer (`classification.Stages`).

    Returns:
        The file name written.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    plt = pyplot()
    feats = {name: layer_features(m, x) for name, m in models.items()}
    cols = max(len(f) for f in feats.values())
    fig, axes = plt.subplots(
        len(feats), cols, figsize=(3.2 * cols, 3.3 * len(feats)), squeeze=False
    )
    # One OpenMP thread: t-SNE's threads spin-wait when TensorFlow or other work holds the
    # cores (measured here: 200 images, 21 s with 2 threads vs 0.2 s with 1).
    with stages(f"Fig. 4 embeddings on {len(x)} images"), threadpool_limits(1):
        for i, (name, layers) in enumerate(feats.items()):
            for j, (layer, f) in enumerate(layers.items()):
                f = PCA(min(50, *f.shape), random_state=seed).fit_transform(f)
                emb = TSNE(
                    2,
                    init="pca",
                    random_state=seed,
                    max_iter=500,
                    perplexity=min(30.0, (len(f) - 1) / 3.0),
                ).fit_transform(f)
                sc = axes[i, j].scatter(emb[:, 0], emb[:, 1], c=y, s=3, cmap="tab10")
                axes[i, j].set_title(f"{name}: {layer}", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.legend(*sc.legend_elements(), title="class", loc="center right", fontsize=8)
    fig.suptitle(
        f"Fig. 4: t-SNE (500 iterations) of PCA-50 features, n = {len(x)} test images",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 0.93, 0.95))
    fig.savefig(out / "fig4_embeddings.png", dpi=100)
    plt.close(fig)
    return "fig4_embeddings.png"


def fig6(out: Path, name: str, history: dict) -> str | None:
    """Fig. 6: change of Psi per training epoch of `name`, from its training record.

    Args:
        out: folder written to.
        name: the PROP model.
        history: `{layer: [||Psi_t - Psi_{t-1}||_F per epoch]}`.

    Returns:
        The file name written, None when there is no history.
    """
    if not history:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for layer, values in history.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", label=layer)
    ax.set(
        xlabel="training epoch",
        ylabel="||Psi_t - Psi_{t-1}||_F",
        yscale="log",
        title=f"Fig. 6: Psi convergence during training of {name}",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "fig6_psi.png", dpi=110)
    plt.close(fig)
    return "fig6_psi.png"
