"""What a reduction is asked to do: the method, its parameters and their closed choices.

Light on purpose (no numpy): the CLI's options name these enums, and `embedcli --help` imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ReduceMethod(str, Enum):
    pca = "pca"
    incremental_pca = "incremental-pca"
    svd = "svd"
    random_projection = "random-projection"
    umap = "umap"
    tsne = "tsne"
    matryoshka = "matryoshka"

    @property
    def is_linear(self) -> bool:
        return self not in (ReduceMethod.umap, ReduceMethod.tsne)

    @property
    def needs_data(self) -> bool:
        """False for methods fixed by the width and the seed alone."""
        return self not in (ReduceMethod.random_projection, ReduceMethod.matryoshka)


class Projection(str, Enum):
    """Random projection matrices: dense Gaussian, or sparse (Li et al., density 1/√width)."""

    gaussian = "gaussian"
    sparse = "sparse"


class Metric(str, Enum):
    """Distances for UMAP and t-SNE neighbourhoods."""

    euclidean = "euclidean"
    cosine = "cosine"
    manhattan = "manhattan"
    correlation = "correlation"


class Theme(str, Enum):
    """Map colours: dark text on white, or light text on near-black."""

    light = "light"
    dark = "dark"


@dataclass(frozen=True)
class ReduceSettings:
    method: ReduceMethod = ReduceMethod.pca
    dim: int = 2
    seed: int = 0
    whiten: bool = False
    projection: Projection = Projection.gaussian
    neighbors: int = 15
    min_dist: float = 0.1
    metric: Metric = Metric.euclidean
    perplexity: float = 30.0
