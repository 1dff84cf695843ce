"""Grouping speaker embeddings into speakers, with the number of speakers found automatically.

Spectral clustering on a pruned cosine-affinity graph picks the count from the largest
eigengap of the normalised Laplacian, which depends on the *shape* of the similarity
structure rather than on an absolute threshold, so it carries over from synthetic to real
voices. The re-clustering pass then applies loose absolute checks: clusters whose centroids
are nearly identical are merged (so one speaker split in two, or a single-speaker recording,
ends as one), tiny clusters and clusters that are a blend of two others are dissolved, and
every window is reassigned to its nearest centroid. The count may then grow beyond the
eigengap's while new clusters survive that pass. Few windows use agglomerative clustering.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClusteringOptions:
    default_max_speakers: int = 8
    """Upper bound of the automatic count when no hint is given."""
    neighbours: float = 0.2
    """Share of each row of the affinity matrix kept when pruning (at least ``min_neighbours``)."""
    min_neighbours: int = 6
    merge_similarity: float = 0.72
    """Clusters whose centroids are at least this similar (cosine) are one speaker."""
    ahc_similarity: float = 0.55
    """Average-linkage stopping similarity when there are too few windows for spectral."""
    mixture_similarity: float = 0.7
    """A cluster whose centroid is this close to a blend of two other centroids (and closer to
    the blend than to either) holds windows straddling two speakers, not a third person."""
    growth_eigen_ratio: float = 0.8
    """Grow the count past the eigengap only while eigenvalue k is at most this share of k+1."""
    min_spectral_windows: int = 16
    max_spectral_windows: int = 1500
    """Above this many windows (~19 min of speech) the graph is built on a subsample."""
    min_cluster_weight: float = 2.0
    """Clusters with less speech than this (seconds of window weight) are absorbed."""
    reassign_iterations: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.neighbours <= 1:
            raise ValueError("neighbours must be in (0, 1]")
        for name in ("merge_similarity", "mixture_similarity", "ahc_similarity"):
            if not -1 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a cosine similarity in [-1, 1]")


@dataclass(frozen=True)
class ClusteringResult:
    labels: np.ndarray
    """Cluster of each embedding, 0..k-1."""
    centroids: np.ndarray
    """(k, dim) L2-normalised mean embedding of each cluster."""
    eigengap_count: int | None = None
    """The count the eigengap suggested before the re-clustering pass (for diagnostics)."""


def normalise_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)


def centroids_of(x: np.ndarray, labels: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((k, x.shape[1]), dtype=np.float64)
    np.add.at(out, labels, x * weights[:, None])
    return normalise_rows(out)


def kmeans(
    points: np.ndarray, k: int, seed: int = 0, restarts: int = 5, iterations: int = 50
) -> np.ndarray:
    """Deterministic k-means++ (best of ``restarts``); returns labels."""
    n = len(points)
    if k >= n:
        return np.arange(n) % max(k, 1)
    rng = np.random.default_rng(seed)
    best_labels, best_inertia = np.zeros(n, dtype=int), np.inf
    for _ in range(restarts):
        centers = [points[rng.integers(n)]]
        for _ in range(1, k):
            d2 = np.min(((points[:, None, :] - np.array(centers)[None]) ** 2).sum(-1), axis=1)
            total = d2.sum()
            probs = d2 / total if total > 0 else np.full(n, 1.0 / n)
            centers.append(points[rng.choice(n, p=probs)])
        c = np.array(centers)
        labels = np.zeros(n, dtype=int)
        for _ in range(iterations):
            d2 = ((points[:, None, :] - c[None]) ** 2).sum(-1)
            new = d2.argmin(1)
            if np.array_equal(new, labels) and _ > 0:
                break
            labels = new
            for j in range(k):
                members = points[labels == j]
                if len(members):
                    c[j] = members.mean(0)
        inertia = float(((points - c[labels]) ** 2).sum())
        if inertia < best_inertia:
            best_labels, best_inertia = labels, inertia
    return best_labels


def _affinity(x: np.ndarray, options: ClusteringOptions) -> np.ndarray:
    """Cosine similarities, each row pruned to its nearest neighbours, made symmetric."""
    n = len(x)
    sim = np.clip(x @ x.T, 0.0, 1.0)
    keep = min(n - 1, max(options.min_neighbours, int(np.ceil(options.neighbours * n))))
    # Indices of the smallest entries of each row, set to zero (the diagonal is kept).
    drop = np.argsort(sim, axis=1)[:, : n - keep]
    pruned = sim.copy()
    np.put_along_axis(pruned, drop, 0.0, axis=1)
    pruned = 0.5 * (pruned + pruned.T)
    np.fill_diagonal(pruned, 0.0)
    return pruned


def spectral_embedding(
    x: np.ndarray, options: ClusteringOptions, dims: int
) -> tuple[np.ndarray, np.ndarray]:
    """Smallest eigenvalues and eigenvectors of the normalised Laplacian of the affinity graph."""
    affinity = _affinity(x, options)
    degree = affinity.sum(1)
    inv_sqrt = 1.0 / np.sqrt(np.maximum(degree, 1e-10))
    laplacian = np.eye(len(x)) - inv_sqrt[:, None] * affinity * inv_sqrt[None, :]
    from scipy.linalg import eigh

    # Only the smallest few eigenpairs are needed; the full decomposition costs far more.
    last = min(dims, len(x) - 1)
    return eigh(laplacian, subset_by_index=[0, last], driver="evr")


def eigengap_count(eigenvalues: np.ndarray, low: int, high: int) -> int:
    """The k in ``[low, high]`` after which the eigenvalues jump the most."""
    high = min(high, len(eigenvalues) - 1)
    low = min(low, high)
    if low >= high:
        return low
    # The k-th gap (between eigenvalue k-1 and k) is large when there are k clusters.
    gaps = np.diff(eigenvalues[: high + 1])
    return int(np.argmax(gaps[low - 1 : high])) + low


def agglomerative(x: np.ndarray, low: int, high: int, similarity: float) -> np.ndarray:
    """Average-linkage clustering on cosine distance, stopped at ``similarity``."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(x) == 1:
        return np.zeros(1, dtype=int)
    tree = linkage(x, method="average", metric="cosine")
    labels = fcluster(tree, t=1.0 - similarity, criterion="distance") - 1
    k = len(np.unique(labels))
    if not low <= k <= high:
        labels = fcluster(tree, t=int(np.clip(k, low, high)), criterion="maxclust") - 1
    return _compact(labels)


def _compact(labels: np.ndarray) -> np.ndarray:
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.astype(int)


def cluster_embeddings(
    embeddings: np.ndarray,
    weights: np.ndarray | None = None,
    low: int = 1,
    high: int | None = None,
    options: ClusteringOptions | None = None,
) -> ClusteringResult:
    """Cluster L2-normalised embeddings into between ``low`` and ``high`` speakers.

    ``weights`` (seconds of speech per embedding) make long windows count more in centroids
    and in the minimum-size rule.
    """
    options = options or ClusteringOptions()
    x = normalise_rows(np.asarray(embeddings, dtype=np.float64))
    n = len(x)
    if n == 0:
        return ClusteringResult(
            np.zeros(0, dtype=int), np.zeros((0, x.shape[1] if x.ndim == 2 else 0))
        )
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    high = options.default_max_speakers if high is None else high
    high = max(1, min(high, n))
    low = max(1, min(low, high))

    suggested: int | None = None
    if high == 1:
        labels = np.zeros(n, dtype=int)
    elif n < options.min_spectral_windows:
        labels = agglomerative(x, low, high, options.ahc_similarity)
    elif n > options.max_spectral_windows:
        # Long recordings: the eigen-decomposition is cubic in the number of windows, so the
        # graph is built on an even subsample; every window is then assigned to a centroid.
        picked = np.linspace(0, n - 1, options.max_spectral_windows).round().astype(int)
        sub, suggested = _spectral_with_growth(x[picked], w[picked], max(low, 2), high, options)
        centroids = centroids_of(x[picked], sub, w[picked], int(sub.max()) + 1)
        labels = (x @ centroids.T).argmax(1)
    else:
        labels, suggested = _spectral_with_growth(x, w, max(low, 2), high, options)
    labels = _recluster(x, _compact(labels), w, low, high, options)
    k = int(labels.max()) + 1
    return ClusteringResult(labels, centroids_of(x, labels, w, k), suggested)


def _spectral_with_growth(
    x: np.ndarray, w: np.ndarray, low: int, high: int, options: ClusteringOptions
) -> tuple[np.ndarray, int]:
    """Spectral clustering starting from the eigengap count, then growing the count while the
    extra cluster survives the re-clustering pass intact.

    The eigengap under-counts speakers who talk little (their eigenvalue gap is small); a
    genuine extra speaker stays a separate, big-enough cluster with a distinct centroid,
    while splitting one person in two produces near-identical centroids that merge back.
    """
    high = min(high, len(x) - 1)
    eigenvalues, vectors = spectral_embedding(x, options, high)
    k = eigengap_count(eigenvalues, low, high)
    best = _recluster(x, kmeans(normalise_rows(vectors[:, :k]), k), w, low, high, options)
    for bigger in range(k + 1, high + 1):
        if eigenvalues[bigger - 1] > options.growth_eigen_ratio * eigenvalues[bigger]:
            break  # no sign of another well-separated group in the graph
        candidate = kmeans(normalise_rows(vectors[:, :bigger]), bigger)
        refined = _recluster(x, candidate, w, low, high, options)
        if int(refined.max()) + 1 < bigger:
            break
        best = refined
    return best, k


def _most_mixed(c: np.ndarray, threshold: float, margin: float = 0.05) -> int | None:
    """The cluster that looks most like a blend of two others, if any does."""
    worst, worst_excess = None, 0.0
    for j in range(len(c)):
        others = [i for i in range(len(c)) if i != j]
        single = max(float(c[j] @ c[i]) for i in others)
        blend = max(
            float(c[j] @ normalise_rows((c[a] + c[b])[None])[0])
            for n, a in enumerate(others)
            for b in others[n + 1 :]
        )
        excess = blend - single
        if blend >= threshold and excess >= margin and excess > worst_excess:
            worst, worst_excess = j, excess
    return worst


def _group_similarity(
    x: np.ndarray, w: np.ndarray, c: np.ndarray, groups: list[list[int]]
) -> np.ndarray:
    """Cosine similarity of clusters' mean voices, corrected for how few windows they hold.

    The mean of a few unit vectors is longer than the mean of many from the same voice (each
    window is perfectly similar to itself), so the plain centroid cosine of two halves of one
    short recording looks like two people. Dividing by the clusters' own coherence (the mean
    similarity of distinct window pairs) instead of the means' lengths removes that bias;
    for clusters of many windows the two are the same.
    """
    sums, coherence = [], []
    for centroid, members in zip(c, groups, strict=True):
        if len(members) < 2:  # nothing to correct: the plain centroid
            sums.append(centroid)
            coherence.append(1.0)
            continue
        weights = w[members]
        total = (weights[:, None] * x[members]).sum(0)
        mass, self_mass = weights.sum(), float((weights**2).sum())
        sums.append(total / mass)
        within = (float(total @ total) - self_mass) / (mass**2 - self_mass)
        # Clipped: a cluster of unrelated windows (noise) must not look like anyone's twin.
        coherence.append(min(1.0, max(within, 0.3)))
    means = np.array(sums)
    scale = np.sqrt(np.array(coherence))
    return (means @ means.T) / (scale[:, None] * scale[None, :])


def _recluster(
    x: np.ndarray,
    labels: np.ndarray,
    w: np.ndarray,
    low: int,
    high: int,
    options: ClusteringOptions,
) -> np.ndarray:
    """Absorb tiny clusters, merge near-identical ones, then reassign windows to centroids."""
    for _ in range(options.reassign_iterations):
        k = int(labels.max()) + 1
        c = centroids_of(x, labels, w, k)
        mass = np.bincount(labels, weights=w, minlength=k)
        # 1. Clusters with almost no speech are noise or overlap: give their windows away.
        keep = [j for j in range(k) if mass[j] >= options.min_cluster_weight]
        while len(keep) < min(low, k):
            keep.append(max((j for j in range(k) if j not in keep), key=lambda j: mass[j]))
        if not keep:
            keep = [int(mass.argmax())]
        c = c[sorted(keep)]
        if len(c) > max(low, 2):
            junk = _most_mixed(c, options.mixture_similarity)
            if junk is not None:
                c = np.delete(c, junk, axis=0)
        # 2. Merge the most similar pair while it is above the threshold (or above high).
        groups = [
            list(np.flatnonzero(g)) for g in ((x @ c.T).argmax(1) == np.arange(len(c))[:, None])
        ]
        while len(c) > max(low, 1):
            sim = _group_similarity(x, w, c, groups)
            np.fill_diagonal(sim, -np.inf)
            i, j = np.unravel_index(np.argmax(sim), sim.shape)
            if sim[i, j] < options.merge_similarity and len(c) <= high:
                break
            merged = normalise_rows((c[i] + c[j])[None])[0]
            c = np.vstack([np.delete(c, [i, j], axis=0), merged])
            groups = [g for n, g in enumerate(groups) if n not in (i, j)] + [groups[i] + groups[j]]
        # 3. Every window goes to its nearest centroid.
        new = _compact((x @ c.T).argmax(1))
        if np.array_equal(new, labels):
            break
        labels = new
    return labels
