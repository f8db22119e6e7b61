"""Training word, item and document vectors with gensim (Word2Vec, FastText, Doc2Vec), and GloVe: `embedcli train`.

- settings: the algorithm and gensim's knobs, presets, how inputs are read; their config form and its digest
- config: a TOML file of settings (`--config`), read and type-checked
- sentences: reading and tokenizing inputs once, splitting long texts, spooling for gensim's passes
- background: reading in a forked child while gensim is imported
- fit: vocabulary, memory estimate, training with per-epoch reports
- saving: word2vec/FastText/Parquet/NPY files and saved models, all written atomically
- evaluation: gensim's analogy and word-pair evaluations
- run: one whole run (`train_inputs` from files, `run_training` from records)
- glove_run: a GloVe run (`run_glove`, `train_from_cooccurrence`); glove/: the GloVe core (counting, training)
"""
