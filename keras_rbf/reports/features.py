"""Features of a classifier's layers, and Table 2's clustering scores on them."""

from __future__ import annotations

import keras
import numpy as np

__all__ = ["clustering_scores", "layer_features"]


def layer_features(model: keras.Model, x: np.ndarray, last_only: bool = False) -> dict:
    """Each conv block's output (after its RBF block if any) and the classifier's input.

    Layers whose features equal the previous one's (a Flatten of the last block) are
    dropped, so each panel of Fig. 4 shows a distinct layer.

    Args:
        model: a zoo CNN (conv layers named `conv*`, the classifier `logits`).
        x: `(N, H, W, C)` images.
        last_only: only the classifier's input (Table 2).

    Returns:
        `{layer name: (N, D) features}`.
    """
    names = [layer.name for layer in model.layers]
    tensors = {}
    if not last_only:
        for name in names:
            if name.startswith("conv"):
                block = name.replace("conv", "block") + "_concat"
                pick = block if block in names else name
                tensors[pick] = model.get_layer(pick).output
    tensors["logits input"] = model.get_layer("logits").input
    probe = keras.Model(model.input, list(tensors.values()))
    parts = [probe(x[i : i + 250], training=False) for i in range(0, len(x), 250)]
    parts = [p if isinstance(p, (list, tuple)) else [p] for p in parts]
    feats = {}
    for j, key in enumerate(tensors):
        f = np.concatenate([keras.ops.convert_to_numpy(p[j]) for p in parts]).reshape(len(x), -1)
        prev = next(reversed(feats.values()), None)
        if prev is not None and prev.shape == f.shape and np.array_equal(prev, f):
            feats.pop(next(reversed(feats)))  # keep the later name: the classifier's input
        feats[key] = f
    return feats


def clustering_scores(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict:
    """Table 2: k-means (k = number of classes) on features, scored by scikit-learn.

    Args:
        features: `(N, D)`.
        labels: `(N,)` classes.
        seed: k-means' seed.

    Returns:
        `{"silhouette", "calinski_harabasz", "mutual_information", "homogeneity",
        "completeness"}`.
    """
    from sklearn import metrics
    from sklearn.cluster import KMeans

    k = len(np.unique(labels))
    pred = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(features)
    return {
        "silhouette": float(metrics.silhouette_score(features, pred)),
        "calinski_harabasz": float(metrics.calinski_harabasz_score(features, pred)),
        "mutual_information": float(metrics.adjusted_mutual_info_score(labels, pred)),
        "homogeneity": float(metrics.homogeneity_score(labels, pred)),
        "completeness": float(metrics.completeness_score(labels, pred)),
    }
