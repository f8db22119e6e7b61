"""RowIds (the ids of an NPY corpus, made when asked for) behaves as the list of strings it stands for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedcli.formats.vector_files import read_vector_table
from embedcli.records import RowIds
from embedcli.search.corpus import load_corpus


def as_list(n: int) -> list[str]:
    return [str(i) for i in range(1, n + 1)]


@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_row_ids_equal_the_list_they_stand_for(n: int) -> None:
    ids, oracle = RowIds(n), as_list(n)
    assert len(ids) == len(oracle)
    assert list(ids) == oracle
    assert ids == oracle and ids == RowIds(n) and ids != RowIds(n + 1)
    for index in range(-n, n):
        assert ids[index] == oracle[index]
    for piece in [slice(None), slice(2, 5), slice(-3, None), slice(None, None, 3), slice(5, 1, -1), slice(n + 5, None)]:
        assert ids[piece] == oracle[piece]
    for bad in (n, -n - 1):
        with pytest.raises(IndexError):
            ids[bad]


def test_row_ids_find_rows_by_arithmetic() -> None:
    ids, oracle = RowIds(50), as_list(50)
    for key in ["1", "7", "50"]:
        assert key in ids and ids.index(key) == oracle.index(key) and ids.row_of(key) == oracle.index(key)
    for key in ["0", "51", "07", "-1", "x", "", "1.0", " 1"]:
        assert key not in ids and key not in oracle and ids.row_of(key) is None
        with pytest.raises(ValueError):
            ids.index(key)
    assert 7 not in ids  # an int is not an id


def test_an_npy_corpus_holds_no_id_strings(tmp_path: Path) -> None:
    path = tmp_path / "v.npy"
    np.save(path, np.random.default_rng(3).standard_normal((100, 8)).astype(np.float32))
    table = read_vector_table(str(path))
    assert isinstance(table.ids, RowIds) and table.ids == as_list(100)
    corpus = load_corpus(str(path))
    assert isinstance(corpus.ids, RowIds)
    assert corpus.row_of("42") == 41 and corpus.row_of("101") is None
