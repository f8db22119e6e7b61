"""GloVe vocabulary and co-occurrence counts against a pure-Python reference of the Stanford tool's rules."""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np
import pytest

from embedcli.errors import InputError, UsageError
from embedcli.train.glove import (
    Vocabulary,
    build_vocabulary,
    count_cooccurrences,
    load_cooccurrence,
    save_cooccurrence,
)
from embedcli.train.glove.cooccur import _count
from embedcli.train.glove.vocab import c_order


def reference_counts(lines: list[list[str]], words: list[str], window: int) -> dict[tuple[int, int], float]:
    """cooccur.c restated: drop OOV tokens, then each token pairs with up to `window` earlier ones in its line."""
    index = {w: i for i, w in enumerate(words)}
    counts: dict[tuple[int, int], float] = defaultdict(float)
    for tokens in lines:
        ids = [index[t] for t in tokens if t in index]
        for j, right in enumerate(ids):
            for k in range(j - 1, max(j - window, 0) - 1, -1):
                left = ids[k]
                counts[left, right] += 1.0 / (j - k)
                counts[right, left] += 1.0 / (j - k)
    return dict(counts)


def as_dict(matrix) -> dict[tuple[int, int], float]:  # type: ignore[no-untyped-def]
    pairs = list(zip(matrix.rows.tolist(), matrix.cols.tolist(), strict=True))
    assert len(set(pairs)) == len(pairs)
    return dict(zip(pairs, matrix.values.tolist(), strict=True))


def assert_same_counts(got: dict, want: dict) -> None:  # type: ignore[type-arg]
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key


def random_lines(seed: int, n_lines: int = 200, n_words: int = 40) -> list[list[str]]:
    rng = random.Random(seed)
    pool = [f"w{i}" for i in range(n_words)]
    weights = [1 / (i + 1) ** 2 for i in range(n_words)]  # Zipf-like, so some words fall under min_count
    return [rng.choices(pool, weights, k=rng.randint(0, 30)) for _ in range(n_lines)]


def vocab_of(*words: str) -> Vocabulary:
    return Vocabulary(list(words), np.ones(len(words), dtype=np.int64))


def test_distance_weights_and_symmetry() -> None:
    got = as_dict(count_cooccurrences([["a", "b", "c"]], vocab_of("a", "b", "c"), window=2))
    assert got == {(0, 1): 1.0, (1, 0): 1.0, (1, 2): 1.0, (2, 1): 1.0, (0, 2): 0.5, (2, 0): 0.5}


def test_window_bounds_the_distance() -> None:
    got = as_dict(count_cooccurrences([["a", "b", "c"]], vocab_of("a", "b", "c"), window=1))
    assert (0, 2) not in got and got[0, 1] == 1.0


def test_a_word_with_itself_adds_twice_to_the_diagonal() -> None:
    # cooccur.c adds X[w1][w2] and X[w2][w1]: the same cell when w1 == w2.
    got = as_dict(count_cooccurrences([["a", "x", "a"]], vocab_of("a", "x"), window=5))
    assert got[0, 0] == pytest.approx(2 * 0.5)


def test_pairs_never_cross_a_line() -> None:
    got = as_dict(count_cooccurrences([["a"], ["b"], [], ["a", "b"]], vocab_of("a", "b"), window=15))
    assert got == {(0, 1): 1.0, (1, 0): 1.0}


def test_oov_tokens_are_dropped_before_windowing() -> None:
    # With "x" out of the vocabulary, a and b are adjacent: distance 1, inside a window of 1.
    got = as_dict(count_cooccurrences([["a", "x", "x", "b"]], vocab_of("a", "b"), window=1))
    assert got == {(0, 1): 1.0, (1, 0): 1.0}


@pytest.mark.parametrize("window", [1, 3, 15])
@pytest.mark.parametrize("seed", [0, 1])
def test_counts_equal_the_reference(window: int, seed: int) -> None:
    lines = random_lines(seed)
    vocabulary = build_vocabulary(lines, min_count=3)
    assert len(vocabulary) < 40  # some words are out of the vocabulary
    want = reference_counts(lines, vocabulary.words, window)
    assert_same_counts(as_dict(count_cooccurrences(lines, vocabulary, window=window)), want)


@pytest.mark.parametrize(("dense_words", "chunk_tokens"), [(0, 1), (5, 7), (1000, 50)])
def test_chunks_dense_corner_and_table_growth_do_not_change_counts(dense_words: int, chunk_tokens: int) -> None:
    lines = random_lines(2, n_lines=300, n_words=80)
    vocabulary = build_vocabulary(lines, min_count=1)
    want = reference_counts(lines, vocabulary.words, 4)
    # Four slots to start with: the table grows (and rehashes) many times, sometimes in the middle of a line.
    got = _count(lines, vocabulary, 4, dense_words, chunk_tokens, capacity_bits=2)
    assert_same_counts(as_dict(got), want)


def test_lines_can_be_any_iterable_of_sequences() -> None:
    lines = random_lines(3)
    vocabulary = build_vocabulary(lines, min_count=2)
    from_generator = count_cooccurrences((tuple(line) for line in lines), vocabulary, window=5)
    assert_same_counts(as_dict(from_generator), reference_counts(lines, vocabulary.words, 5))


def test_vocabulary_orders_like_vocab_count() -> None:
    lines = [["b", "a", "é", "ab", "abé", "c", "c", "z", "z", "z"]]
    vocabulary = build_vocabulary(lines, min_count=1)
    # Count first; ties in strcmp order with a signed char: bytes >= 0x80 before ASCII and before the end.
    assert vocabulary.words == ["z", "c", "é", "a", "abé", "ab", "b"]
    assert vocabulary.counts.tolist() == [3, 2, 1, 1, 1, 1, 1]
    assert sorted(["abc", "ab", "b"], key=c_order) == ["ab", "abc", "b"]


def test_vocabulary_limits() -> None:
    lines = [["a"] * 5 + ["b"] * 4 + ["c"] * 4 + ["d"] * 2 + ["e"]]
    assert build_vocabulary(lines, min_count=2).words == ["a", "b", "c", "d"]
    assert build_vocabulary(lines, min_count=1, max_vocab=2).words == ["a", "b"]
    # gensim's max_final_vocab: b and c tie at the cut, so both go.
    assert build_vocabulary(lines, min_count=1, max_final_vocab=2).words == ["a"]
    assert build_vocabulary(lines, min_count=1, max_final_vocab=3).words == ["a", "b", "c"]
    with pytest.raises(InputError):
        build_vocabulary(lines, min_count=6)
    with pytest.raises(UsageError):
        build_vocabulary(lines, min_count=0)


def test_save_and_load_give_the_same_matrix(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lines = [*random_lines(4), ["héllo", "wörld", "w0"]]
    vocabulary = build_vocabulary(lines, min_count=1)
    matrix = count_cooccurrences(lines, vocabulary, window=7)
    path = str(tmp_path / "cooc.npz")
    save_cooccurrence(matrix, path)
    with np.load(path, allow_pickle=False) as data:  # nothing in it needs pickle
        assert {"rows", "cols", "values"} <= set(data.files)
    again = load_cooccurrence(path)
    assert again.vocabulary.words == vocabulary.words
    np.testing.assert_array_equal(again.vocabulary.counts, vocabulary.counts)
    for name in ("rows", "cols", "values"):
        np.testing.assert_array_equal(getattr(again, name), getattr(matrix, name))
    assert again.window == 7


def test_a_file_that_is_not_a_matrix_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "other.npz"
    np.savez(path, x=np.arange(3))
    with pytest.raises(InputError):
        load_cooccurrence(str(path))
    text = tmp_path / "text.npz"
    text.write_text("not a zip")
    with pytest.raises(InputError):
        load_cooccurrence(str(text))


def test_to_scipy_matches_the_records() -> None:
    lines = random_lines(5)
    vocabulary = build_vocabulary(lines, min_count=2)
    matrix = count_cooccurrences(lines, vocabulary, window=3)
    dense = matrix.to_scipy().toarray()
    want = np.zeros_like(dense)
    for (i, j), value in reference_counts(lines, vocabulary.words, 3).items():
        want[i, j] = value
    np.testing.assert_allclose(dense, want, rtol=1e-12)
    np.testing.assert_allclose(dense, dense.T, rtol=1e-12)
