"""The shipped default model, run through `embedcli embed`, reproduces its published STS-B figure."""

from __future__ import annotations

import numpy as np
from conftest import SHARED_DATA, run_cli
from scipy.stats import spearmanr

from embedcli.formats.vector_files import read_vector_table


def test_stsb_test_spearman_is_the_published_0_8203(tmp_path):
    first, second, gold = [], [], []
    for line in (SHARED_DATA / "stsbenchmark" / "sts-test.csv").read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        gold.append(float(fields[4]))
        first.append(fields[5])
        second.append(fields[6])
    corpus = tmp_path / "sentences.txt"
    corpus.write_text("\n".join(first + second) + "\n", encoding="utf-8")
    run_cli("embed", str(corpus), "-o", str(tmp_path / "v.parquet"), "--batch-size", "64", check=True)
    table = read_vector_table(str(tmp_path / "v.parquet"))
    n = len(first)
    assert table.ids[n] == str(n + 1)
    a, b = table.vectors[:n], table.vectors[n:]
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert abs(spearmanr(cosine, gold).statistic - 0.8203) < 0.0005
