"""`embedcli train`: word, item and document vectors with gensim, and GloVe, from files or pipes."""

from __future__ import annotations

import sys

import typer

from embedcli.cli import options as opt
from embedcli.cli import train_options as t
from embedcli.cli.console import stderr, warn
from embedcli.cli.io import resolve_inputs
from embedcli.cli.train_report import EpochProgress, print_estimate, render_evaluation, summarize
from embedcli.errors import UsageError
from embedcli.train.settings import Algorithm, CorpusMode, Preset

EPILOG = """\
Examples:

  embedcli train corpus.txt -o vectors.bin

  embedcli train books/*.txt --sg --dim 200 --epochs 10 -o vectors.txt

  zcat corpus.txt.gz | embedcli train - -o vectors.parquet

  embedcli train corpus.txt --algorithm fasttext -o ft.bin

  embedcli train docs.jsonl --text-field body --algorithm doc2vec -o docvecs.parquet --save-model d2v/

  embedcli train sessions.txt --preset items -o items.bin

  embedcli train corpus.txt --eval

  embedcli train corpus.txt --config train.toml --epochs 10 -o tuned.parquet

  embedcli train books/*.txt --algorithm glove --x-max 10 --epochs 15 -o glove.txt --save-cooccur cooc.npz

  embedcli train --algorithm glove --cooccur cooc.npz --dim 300 -o g300.txt

  embedcli embed notes.txt --model vectors.bin -o notes.parquet
"""


def train(
    ctx: typer.Context,
    inputs: opt.InputsArg = None,
    output: t.TrainOutputOpt = None,
    fmt: t.VectorFormatOpt = None,
    save_model: t.SaveModelOpt = None,
    config: t.ConfigOpt = None,
    algorithm: t.AlgorithmOpt = Algorithm.word2vec,
    preset: t.PresetOpt = Preset.text,
    sg: t.SgOpt = None,
    hs: t.HsOpt = False,
    dbow: t.DbowOpt = False,
    dbow_words: t.DbowWordsOpt = False,
    dim: t.DimOpt = 100,
    window: t.WindowOpt = None,
    min_count: t.MinCountOpt = None,
    max_vocab_size: t.MaxVocabOpt = None,
    max_final_vocab: t.MaxFinalVocabOpt = None,
    sample: t.SampleOpt = None,
    negative: t.NegativeOpt = None,
    alpha: t.AlphaOpt = None,
    x_max: t.XMaxOpt = None,
    eta: t.EtaOpt = None,
    min_alpha: t.MinAlphaOpt = None,
    epochs: t.EpochsOpt = None,
    workers: t.WorkersOpt = 3,
    seed: t.SeedOpt = 1,
    shrink_windows: t.ShrinkOpt = True,
    min_n: t.MinNOpt = 3,
    max_n: t.MaxNOpt = 6,
    bucket: t.BucketOpt = 2_000_000,
    tokenizer: t.TokenizerOpt = None,
    token_pattern: t.TokenPatternOpt = None,
    lowercase: t.LowercaseOpt = False,
    phrases: t.PhrasesOpt = False,
    phrases_min_count: t.PhrasesMinCountOpt = 5,
    phrases_threshold: t.PhrasesThresholdOpt = 10.0,
    corpus_mode: t.CorpusModeOpt = CorpusMode.auto,
    input_format: opt.InputFormatOpt = None,
    text_field: opt.TextFieldOpt = "text",
    id_field: opt.IdFieldOpt = None,
    text_column: opt.TextColumnOpt = "text",
    id_column: opt.IdColumnOpt = None,
    encoding: opt.EncodingOpt = "utf-8",
    errors: opt.ErrorsOpt = "strict",
    estimate: t.EstimateOpt = False,
    evaluate: t.EvalOpt = False,
    eval_analogies: t.EvalAnalogiesOpt = None,
    eval_pairs: t.EvalPairsOpt = None,
    eval_json: t.EvalJsonOpt = None,
    save_cooccur: t.SaveCooccurOpt = None,
    cooccur: t.CooccurOpt = None,
    loss: t.LossOpt = None,
    resume: t.ResumeOpt = None,
    trust_pickle: t.TrustPickleOpt = False,
    quiet: opt.QuietOpt = False,
) -> None:
    """Train word vectors (Word2Vec, FastText, GloVe), item vectors (--preset items) or document vectors (Doc2Vec).

    Inputs are read once, as `embed` reads them (txt, jsonl, csv, tsv, parquet, .gz; '-' or a pipe for
    stdin). gensim passes over the corpus several times (vocabulary, then every epoch), so stdin and files
    alike are spooled once, tokenized: into memory for gensim's iterable path, or into a temporary file for
    its corpus_file path (see --corpus-mode), removed when the run ends. GloVe spools the tokens to a file,
    counts the co-occurrences from it (memory: vocabulary and matrix), then trains on the matrix.

    Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted.
    """
    # The settings' options are read by name, with where each came from, in t.settings_from.
    # The command's library loads here, not with the module: `embedcli --help` imports every command module.
    from embedcli.formats.word_vectors import load_saved_model
    from embedcli.train.run import Targets, train_inputs
    from embedcli.train.saving import check_targets, vector_file_format

    paths = resolve_inputs(inputs, has_literal=cooccur is not None)
    wants_eval = evaluate or bool(eval_analogies or eval_pairs)
    if not (output or save_model or estimate or wants_eval or save_cooccur):
        raise UsageError("nothing to do: name an output with -o FILE (or --save-model DIR, --eval, --estimate)")
    if eval_json and not wants_eval:
        raise UsageError("--eval-json needs --eval, --eval-analogies or --eval-pairs")
    show_progress = not quiet and stderr.is_terminal
    settings = t.settings_from(ctx, config, default_loss=show_progress)
    if cooccur is not None:
        t.refuse_counted(ctx)
    if settings.algorithm is Algorithm.glove and resume is not None:
        raise UsageError("--resume goes on with a gensim model; GloVe has none", hint="retrain with --cooccur FILE")
    out_format = vector_file_format(output, fmt, settings.algorithm, sys.stdout.isatty()) if output else None
    protected = paths + [p for p in (eval_json, cooccur) if p and p != "-"]
    check_targets(output, save_model, protected, save_cooccur)
    model = None
    if resume is not None:
        model = load_saved_model(resume, trust_pickle)
        warn(f"loaded a pickled gensim model from '{resume}' (--trust-pickle): only do this for models you trust")
    targets = Targets(output, out_format, save_model, evaluate, eval_analogies, eval_pairs, save_cooccur)
    from embedcli.formats.outputs import commit_together

    # -o and --save-model appear together or not at all: a model that cannot be saved leaves no vectors behind.
    with commit_together(), EpochProgress(enabled=show_progress) as progress:
        outcome = train_inputs(paths, settings, targets, estimate, model, progress.update, cooccur)
    if outcome.memory is not None:
        print_estimate(outcome)
        return
    if outcome.evaluation is not None:
        render_evaluation(outcome.evaluation, eval_json)
    if not quiet:
        summarize(outcome)
