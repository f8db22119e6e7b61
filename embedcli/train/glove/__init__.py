"""GloVe (Pennington et al. 2014) with the Stanford tool's rules: vocabulary, co-occurrence counts, training.

The pipeline: `build_vocabulary` (one pass over the token lists), `count_cooccurrences` (a second pass, streamed
into float64 sums), optionally `save_cooccurrence` / `load_cooccurrence`, then `train_glove`, whose W + W̃
`write_glove_text` writes in the format Stanford publishes. Counting and training need numba.
"""

from embedcli.train.glove.cooccur import Cooccurrence, count_cooccurrences, load_cooccurrence, save_cooccurrence
from embedcli.train.glove.fit import EpochCallback, GloveSettings, estimate_memory, train_glove
from embedcli.train.glove.vocab import Vocabulary, build_vocabulary, vocabulary_from_counts
from embedcli.train.glove.writer import write_glove_text

__all__ = [
    "Cooccurrence",
    "EpochCallback",
    "GloveSettings",
    "Vocabulary",
    "build_vocabulary",
    "count_cooccurrences",
    "estimate_memory",
    "load_cooccurrence",
    "save_cooccurrence",
    "train_glove",
    "vocabulary_from_counts",
    "write_glove_text",
]
