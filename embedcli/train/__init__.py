"""Training word, item and document vectors with gensim (Word2Vec, FastText, Doc2Vec): `embedcli train`.

- settings: the algorithm and gensim's knobs, presets, the stable hash that makes runs reproducible
- corpus: reading and tokenizing inputs once, splitting long texts, spooling for gensim's passes
- fit: vocabulary, memory estimate, training with per-epoch reports
- outputs: word2vec/FastText/Parquet/NPY files and saved models, all written atomically
- evaluation: gensim's analogy and word-pair evaluations
- run: one whole run
"""
