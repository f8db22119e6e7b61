"""GloVe training: the update against torch autograd, a planted structure, determinism, the text writer."""

from __future__ import annotations

import io
import math
import random

import numpy as np
import pytest
import torch

from embedcli.errors import InputError, UsageError
from embedcli.train.glove import (
    Cooccurrence,
    GloveSettings,
    build_vocabulary,
    count_cooccurrences,
    estimate_memory,
    train_glove,
    write_glove_text,
)
from embedcli.train.glove._kernels import train_span

X_MAX, ALPHA, ETA = 10.0, 0.75, 0.05


def weight(x: float) -> float:
    return min(1.0, (x / X_MAX) ** ALPHA)


def autograd_step(params: dict[str, np.ndarray], i: int, j: int, x: float) -> tuple[dict[str, np.ndarray], float]:
    """The loss ½·f(x)·(wᵢ·c̃ⱼ + bᵢ + b̃ⱼ − log x)² and its gradient by torch, as numpy arrays."""
    tensors = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True) for name, value in params.items()}
    diff = tensors["w"][i] @ tensors["c"][j] + tensors["bw"][i] + tensors["bc"][j] - math.log(x)
    loss = 0.5 * weight(x) * diff**2
    loss.backward()
    return {name: t.grad.numpy() for name, t in tensors.items()}, float(loss.detach())  # type: ignore[union-attr]


def test_update_is_adagrad_on_the_autograd_gradient() -> None:
    rng = np.random.default_rng(0)
    size, dim = 4, 5
    params = {
        "w": rng.normal(size=(size, dim)),
        "c": rng.normal(size=(size, dim)),
        "bw": rng.normal(size=size),
        "bc": rng.normal(size=size),
    }
    squares = {name: np.ones_like(value) for name, value in params.items()}
    records = [(0, 2, 3.0), (0, 1, 25.0), (2, 2, 0.5)]  # word 0 twice: its accumulators have grown by then
    want = {name: value.copy() for name, value in params.items()}
    want_squares = {name: value.copy() for name, value in squares.items()}
    want_cost = 0.0
    for i, j, x in records:
        grads, loss = autograd_step(want, i, j, x)
        want_cost += loss
        for name, row in (("w", i), ("c", j), ("bw", i), ("bc", j)):
            # glove.c scales vector steps by eta; bias steps are the raw gradient (no eta), as its code does.
            step = grads[name][row] * (ETA if name in ("w", "c") else 1.0)
            want[name][row] -= step / np.sqrt(want_squares[name][row])
            want_squares[name][row] += step**2
    got = {name: value.copy() for name, value in params.items()}
    got_squares = {name: value.copy() for name, value in squares.items()}
    rows = np.array([r[0] for r in records], dtype=np.int32)
    cols = np.array([r[1] for r in records], dtype=np.int32)
    xs = np.array([r[2] for r in records])
    f_x = np.array([weight(x) for x in xs])
    cost = train_span(
        got["w"], got["c"], got["bw"], got["bc"], got_squares["w"], got_squares["c"], got_squares["bw"],
        got_squares["bc"], rows, cols, np.log(xs), f_x, 0, len(records), ETA, 1e9,
    )  # fmt: skip
    assert cost == pytest.approx(want_cost, rel=1e-10)
    for name in params:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got_squares[name], want_squares[name], rtol=1e-10)


def test_vector_steps_are_clipped() -> None:
    w = np.full((1, 3), 2.0)
    c = np.full((1, 3), 3.0)
    bias = np.zeros(1)
    squares = [np.ones((1, 3)), np.ones((1, 3)), np.ones(1), np.ones(1)]
    ids = np.zeros(1, dtype=np.int32)
    train_span(w, c, bias, bias.copy(), *squares, ids, ids, np.log([100.0]), np.ones(1), 0, 1, ETA, 0.01)  # type: ignore[call-arg]
    # diff = 18 − log 100 > 0: every gradient component is far above the clip, so each step is clip·eta.
    np.testing.assert_allclose(w, 2.0 - 0.01 * ETA)
    np.testing.assert_allclose(c, 3.0 - 0.01 * ETA)


def planted_lines(seed: int, n_lines: int = 1500) -> tuple[list[list[str]], list[str], list[str]]:
    rng = random.Random(seed)
    topics = [[f"sea{k}" for k in range(8)], [f"law{k}" for k in range(8)]]
    # Mostly one topic per line, some words of the other: log X then has a block structure that the biases
    # (a rank-one pattern) cannot fit, so the vectors must carry it.
    lines = []
    for _ in range(n_lines):
        topic = rng.randrange(2)
        lines.append([rng.choice(topics[topic if rng.random() < 0.85 else 1 - topic]) for _ in range(12)])
    return lines, topics[0], topics[1]


def separation(words: list[str], vectors: np.ndarray, first: list[str], second: list[str]) -> tuple[float, float]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    where = {w: i for i, w in enumerate(words)}
    a, b = unit[[where[w] for w in first]], unit[[where[w] for w in second]]
    within = np.mean([(a @ a.T)[np.triu_indices(len(a), 1)].mean(), (b @ b.T)[np.triu_indices(len(b), 1)].mean()])
    across = float((a @ b.T).mean())
    return float(within), across


@pytest.mark.parametrize("workers", [1, 2])
def test_a_planted_two_topic_corpus_separates(workers: int) -> None:
    lines, sea, law = planted_lines(0)
    vocabulary = build_vocabulary(lines, min_count=1)
    matrix = count_cooccurrences(lines, vocabulary, window=5)
    costs: list[tuple[int, float]] = []
    settings = GloveSettings(dim=16, epochs=40, x_max=X_MAX, workers=workers, seed=3)
    vectors = train_glove(matrix, settings, on_epoch=lambda epoch, cost: costs.append((epoch, cost)))
    assert vectors.shape == (16, 16) and vectors.dtype == np.float32
    within, across = separation(vocabulary.words, vectors, sea, law)
    assert within > 0.8 and across < -0.5, (within, across)
    assert [epoch for epoch, _ in costs] == list(range(1, 41))
    assert costs[-1][1] < 0.2 * costs[0][1]


def test_one_worker_and_a_seed_give_the_same_bytes() -> None:
    lines, _, _ = planted_lines(1, n_lines=300)
    matrix = count_cooccurrences(lines, build_vocabulary(lines, min_count=1), window=15)
    settings = GloveSettings(dim=8, epochs=5, workers=1, seed=7)
    first, second = train_glove(matrix, settings), train_glove(matrix, settings)
    assert first.tobytes() == second.tobytes()
    other = train_glove(matrix, GloveSettings(dim=8, epochs=5, workers=1, seed=8))
    assert other.tobytes() != first.tobytes()


def test_bad_settings_are_refused() -> None:
    lines, _, _ = planted_lines(1, n_lines=10)
    matrix = count_cooccurrences(lines, build_vocabulary(lines, min_count=1), window=2)
    with pytest.raises(UsageError):
        train_glove(matrix, GloveSettings(dim=0))
    with pytest.raises(UsageError):
        train_glove(matrix, GloveSettings(x_max=0.0))
    empty = Cooccurrence(matrix.vocabulary, matrix.rows[:0], matrix.cols[:0], matrix.values[:0], 2)
    with pytest.raises(InputError):
        train_glove(empty, GloveSettings())


def test_text_output_loads_in_gensim(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gensim.models import KeyedVectors

    words = ["frog", "été", "toad"]
    vectors = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    path = tmp_path / "glove.txt"
    with open(path, "w", encoding="utf-8") as out:
        write_glove_text(words, vectors, out)
    first_line = path.read_text(encoding="utf-8").splitlines()[0].split(" ")
    assert first_line[0] == "frog" and len(first_line) == 5  # no header line
    kv = KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
    assert list(kv.index_to_key) == words
    np.testing.assert_allclose(kv.vectors, vectors, atol=5e-7)
    with pytest.raises(UsageError):
        write_glove_text(["two words"], vectors[:1], io.StringIO())


def test_memory_estimate_bounds_what_counting_finds() -> None:
    lines, _, _ = planted_lines(2, n_lines=200)
    vocabulary = build_vocabulary(lines, min_count=1)
    matrix = count_cooccurrences(lines, vocabulary, window=15)
    parts = estimate_memory(vocabulary, GloveSettings(dim=10), window=15)
    assert parts["vectors and AdaGrad sums"] == 4 * len(vocabulary) * 11 * 4
    assert parts["co-occurrence matrix and training copies (at most)"] >= len(matrix) * 48
