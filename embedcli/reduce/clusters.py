"""Clusters on a map, and names for them: HDBSCAN (or k-means with a given count) over the 2-D points, each
cluster named by its most distinctive words (class-based TF-IDF over the cluster's texts).

Why the 2-D points and not the original vectors: the map is what a person looks at, so a cluster should be an
island they can see; density-based clustering degrades in hundreds of dimensions (distances concentrate), and
neighbour queries in 2-D run on a KD-tree instead of brute force. HDBSCAN's cost still grows faster than linearly
(about a minute for 100,000 points here), so it is fitted on a seeded sample of at most `HDBSCAN_SAMPLE` points
and every other point takes the label of its nearest sampled neighbour. k-means (`n_clusters` given) runs on the
original vectors when they are passed, unit-normalised (spherical k-means, which suits cosine embeddings), since
a fixed count of partitions does not depend on density; otherwise on the points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embedcli.errors import UsageError

NOISE = -1
HDBSCAN_SAMPLE = 20_000
MAX_CLUSTERS = 1_000


def cluster_points(
    points: np.ndarray, vectors: np.ndarray | None = None, n_clusters: int | None = None, seed: int = 0
) -> np.ndarray:
    """Cluster labels for `points` (n, 2+), one int64 per row: 0..k-1, or NOISE (-1) for HDBSCAN's outliers.

    Without `n_clusters`: HDBSCAN on the first two coordinates (a seeded sample of at most HDBSCAN_SAMPLE rows,
    the rest labelled by their nearest sampled neighbour). With `n_clusters`: k-means seeded by `seed`, on the
    unit-normalised `vectors` (n, d) when given, else on the points; no noise. Labels are renumbered so that
    cluster 0 is the largest. The same inputs and seed give the same labels.
    Raises UsageError for a bad `n_clusters` or mismatched row counts.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 2:
        raise UsageError("clustering needs points of at least 2 dimensions")
    n = len(points)
    if vectors is not None and len(vectors) != n:
        raise UsageError(f"clustering: {len(vectors)} vectors for {n} points")
    if n_clusters is not None:
        if not 1 <= n_clusters <= min(n, MAX_CLUSTERS):
            raise UsageError(f"--clusters {n_clusters}: choose between 1 and {min(n, MAX_CLUSTERS)}")
        labels = _kmeans(points[:, :2] if vectors is None else _unit(vectors), n_clusters, seed)
    elif n < 3:
        labels = np.zeros(n, dtype=np.int64)
    else:
        labels = _hdbscan(points[:, :2], seed)
    return _by_size(labels)


def _kmeans(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return np.asarray(KMeans(n_clusters=k, random_state=seed, n_init=3).fit_predict(x), dtype=np.int64)


def _hdbscan(points: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    n = len(points)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, HDBSCAN_SAMPLE, replace=False)) if n > HDBSCAN_SAMPLE else np.arange(n)
    fitted = points[sample]
    # About 1% of the points makes a cluster, so a map shows tens of islands, not hundreds of specks.
    min_size = int(np.clip(len(fitted) // 100, 5, 200))
    model = HDBSCAN(min_cluster_size=min_size, min_samples=min(10, min_size), copy=True)
    sampled_labels = np.asarray(model.fit_predict(fitted), dtype=np.int64)
    if len(sample) == n:
        return sampled_labels
    return label_by_nearest(points, fitted, sampled_labels)


def label_by_nearest(points: np.ndarray, labelled_points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Labels for `points` (m, 2+): each takes the label of its nearest row of `labelled_points` (k, 2+), by
    Euclidean distance on the first two coordinates (ties: the lower row). For rows not on the map, e.g. a
    reduce output larger than the plotted sample. Returns int64 (m,)."""
    from sklearn.neighbors import KDTree

    if not len(labelled_points):
        raise UsageError("no labelled points to label from")
    tree = KDTree(np.asarray(labelled_points, dtype=np.float64)[:, :2])
    nearest = tree.query(np.asarray(points, dtype=np.float64)[:, :2], k=1, return_distance=False)[:, 0]
    return np.asarray(labels, dtype=np.int64)[nearest]


def _unit(vectors: np.ndarray) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float32)
    lengths = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(lengths > 0, lengths, 1)


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..k-1 from the largest down (ties: the lower old label first); noise stays -1."""
    kept = labels[labels != NOISE]
    if not len(kept):
        return labels.astype(np.int64)
    ids, counts = np.unique(kept, return_counts=True)
    order = ids[np.lexsort((ids, -counts))]
    mapping = np.full(int(ids.max()) + 1, NOISE, dtype=np.int64)
    mapping[order] = np.arange(len(order))
    out = np.full(len(labels), NOISE, dtype=np.int64)
    clustered = labels != NOISE
    out[clustered] = mapping[labels[clustered]]
    return out


def name_clusters(labels: np.ndarray, texts: Sequence[str | None], top_words: int = 3) -> dict[int, str]:
    """A name for each cluster in `labels` (noise excluded): its `top_words` most distinctive words by c-TF-IDF.

    c-TF-IDF (as in BERTopic): a cluster's texts form one document; a word's weight in it is its frequency there
    times log(1 + A / f), with A the mean word count per cluster and f the word's count over all clusters (noise
    included, so words common everywhere rank low). English stop words are dropped. A cluster whose texts have
    no words is named "cluster N". Returns {cluster id: "word1 word2 word3"}.
    """
    labels = np.asarray(labels)
    if len(labels) != len(texts):
        raise UsageError(f"naming clusters: {len(texts)} texts for {len(labels)} labels")
    clusters = [int(c) for c in np.unique(labels) if c != NOISE]
    names = {c: f"cluster {c}" for c in clusters}
    if not clusters or top_words < 1:
        return names
    classes = [int(c) for c in np.unique(labels)]
    documents = [" ".join(t or "" for t, keep in zip(texts, labels == c, strict=True) if keep) for c in classes]
    from sklearn.feature_extraction.text import CountVectorizer

    # Words of 2+ characters with at least one letter: "gpt4" is a name, "2019" is not.
    vectorizer = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b(?=\w*[^\W\d_])\w{2,}\b")
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(np.float64)
    except ValueError:  # no word at all in any text (empty, digits, stop words only)
        return names
    words = vectorizer.get_feature_names_out()
    per_class = counts.sum(axis=1, keepdims=True)
    frequency = np.maximum(counts.sum(axis=0), 1)
    weights = counts / np.maximum(per_class, 1) * np.log1p(per_class.mean() / frequency)
    for row, cluster in enumerate(classes):
        if cluster == NOISE or per_class[row, 0] == 0:
            continue
        # Stable sort on the negated weight: ties go to the alphabetically first word, so names are repeatable.
        best = [i for i in np.argsort(-weights[row], kind="stable")[:top_words] if counts[row, i] > 0]
        names[cluster] = " ".join(str(words[i]) for i in best)
    return names
