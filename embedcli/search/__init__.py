"""`similar` as a library: corpora, queries, exact top-k search, analogies. Entry point: `run_similar`."""
