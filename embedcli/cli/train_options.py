"""The options of `embedcli train`, declared once with their help texts (defaults shown are gensim's own), and
how they become the run's settings: options given on the command line, over a --config file, over defaults."""

from __future__ import annotations

from typing import Annotated

import typer

from embedcli.errors import UsageError
from embedcli.formats import WordVectorFormat
from embedcli.tokens import Tokenizer
from embedcli.train.settings import Algorithm, CorpusMode, Preset, TrainSettings

# The parameters of `train` that say what to do in this run (inputs, outputs, evaluation, display), not how to
# train: they are neither read from a config file nor recorded. Every other parameter is a setting, named as
# its option (--min-count: min_count); a test checks that each one reaches TrainSettings.
NOT_SETTINGS = frozenset(
    {
        "inputs", "output", "fmt", "save_model", "config", "estimate", "evaluate", "eval_analogies", "eval_pairs",
        "eval_json", "resume", "trust_pickle", "quiet", "save_cooccur", "cooccur",
    }
)  # fmt: skip

# What a saved co-occurrence matrix (--cooccur) has settled already: how the text was read and counted.
COUNTED = (
    "tokenizer", "token_pattern", "lowercase", "phrases", "phrases_min_count", "phrases_threshold", "window",
    "min_count", "max_vocab_size", "max_final_vocab", "input_format", "text_field", "id_field", "text_column",
    "id_column", "encoding", "errors",
)  # fmt: skip


def settings_from(ctx: typer.Context, config: str | None, default_loss: bool) -> TrainSettings:
    """The run's settings: each option given on the command line, else the --config file's value, else the
    option's default. `--loss` left unset means `default_loss`. Raises UsageError for a bad config file."""
    from embedcli.train.config import load_config  # only a run reads --config; --help doesn't

    values = {name: value for name, value in ctx.params.items() if name not in NOT_SETTINGS}
    if config is not None:
        values.update({key: v for key, v in load_config(config).items() if not _given(ctx, key)})
    if values.get("loss") is None:
        values["loss"] = default_loss
    return TrainSettings.from_config(values)


def refuse_counted(ctx: typer.Context) -> None:
    """With --cooccur, refuse an option given on the command line that only counting uses (UsageError)."""
    for name in COUNTED:
        if _given(ctx, name):
            option = "--" + name.replace("_", "-")
            raise UsageError(f"{option} does not apply with --cooccur: the saved matrix is counted already")


def _given(ctx: typer.Context, name: str) -> bool:
    """True when the user gave option `name` (on the command line or in its environment variable), even with
    its default value."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


MODEL = "Model"
CORPUS = "Corpus"
OUTPUT = "Output and evaluation"


def _opt(*names: str, help: str, panel: str = MODEL, **kwargs: object) -> typer.models.OptionInfo:
    return typer.Option(*names, help=help, rich_help_panel=panel, **kwargs)  # type: ignore[arg-type]


TrainOutputOpt = Annotated[
    str | None,
    _opt(
        "--output",
        "-o",
        help="Vectors file, format by suffix: .bin (word2vec binary; FastText: Facebook .bin with subwords), "
        ".txt/.vec (word2vec text; GloVe's .txt: GloVe text, no header), "
        ".parquet (word, count, embedding; Doc2Vec: id, embedding), "
        ".npy (matrix, with NAME.vocab.txt beside it).",
        panel=OUTPUT,
        show_default=False,
    ),
]
VectorFormatOpt = Annotated[
    WordVectorFormat | None,
    _opt(
        "--format",
        "-f",
        help="Vectors format, overriding the suffix (txt: word2vec text with header; glove: no header).",
        panel=OUTPUT,
    ),
]
SaveModelOpt = Annotated[
    str | None,
    _opt(
        "--save-model",
        help="Also keep the full gensim model in this folder, for continued training (a pickle).",
        panel=OUTPUT,
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    str | None,
    _opt(
        "--config",
        help="Settings from a TOML file, one key per option (min-count = 3, sg = true); options given on the "
        "command line win. Parquet outputs and --save-model folders record their settings in this form.",
        show_default=False,
    ),
]
AlgorithmOpt = Annotated[
    Algorithm,
    _opt(
        "--algorithm",
        "-a",
        help="Word2Vec, FastText (subwords), Doc2Vec, or GloVe (from the co-occurrence matrix, with the Stanford "
        "tool's defaults: --window 15, --epochs 25, --x-max 100, --alpha 0.75, --eta 0.05).",
    ),
]
PresetOpt = Annotated[
    Preset,
    _opt(
        "--preset",
        help="text: simple tokenizer. items (item2vec, one session of ids per line): whitespace tokenizer, "
        "skip-gram, --min-count 1, --window 10. Options given explicitly win.",
    ),
]
SgOpt = Annotated[bool | None, _opt("--sg/--cbow", help="Skip-gram instead of CBOW.", show_default="cbow")]
HsOpt = Annotated[
    bool, _opt("--hs", help="Hierarchical softmax (then --negative defaults to 0: no negative sampling).")
]
DbowOpt = Annotated[bool, _opt("--dbow", help="Doc2Vec: PV-DBOW instead of PV-DM.")]
DbowWordsOpt = Annotated[bool, _opt("--dbow-words", help="Doc2Vec --dbow: train word vectors too (skip-gram).")]
DimOpt = Annotated[int, _opt("--dim", min=1, help="Vector dimensions (vector_size).")]
WindowOpt = Annotated[int | None, _opt("--window", min=1, help="Context window.", show_default="5; GloVe 15")]
MinCountOpt = Annotated[int | None, _opt("--min-count", min=1, help="Ignore words rarer than this.", show_default="5")]
MaxVocabOpt = Annotated[
    int | None, _opt("--max-vocab-size", min=1, help="Prune rare words while counting, to bound memory.")
]
MaxFinalVocabOpt = Annotated[
    int | None, _opt("--max-final-vocab", min=1, help="Keep at most this many words (raises --min-count).")
]
SampleOpt = Annotated[
    float | None, _opt("--sample", min=0.0, help="Downsampling threshold for frequent words.", show_default="1e-3")
]
NegativeOpt = Annotated[
    int | None, _opt("--negative", min=0, help="Negative samples per word (0: none).", show_default="5")
]
AlphaOpt = Annotated[
    float | None,
    _opt(
        "--alpha",
        min=0.0,
        help="Initial learning rate. GloVe: the exponent of the weighting (x/x_max)^alpha, as glove.c names it.",
        show_default="0.025; GloVe 0.75",
    ),
]
XMaxOpt = Annotated[
    float | None,
    _opt("--x-max", min=0.0, help="GloVe: co-occurrence count where the weighting reaches 1.", show_default="100"),
]
EtaOpt = Annotated[float | None, _opt("--eta", min=0.0, help="GloVe: AdaGrad learning rate.", show_default="0.05")]
MinAlphaOpt = Annotated[float | None, _opt("--min-alpha", min=0.0, help="Final learning rate.", show_default="0.0001")]
EpochsOpt = Annotated[
    int | None,
    _opt(
        "--epochs",
        min=1,
        help="Passes over the corpus (GloVe: over the matrix).",
        show_default="5; Doc2Vec 10; GloVe 25",
    ),
]
WorkersOpt = Annotated[int, _opt("--workers", min=1, help="Training threads (1 for reproducible runs).")]
SeedOpt = Annotated[int, _opt("--seed", help="Random seed: with --workers 1, runs are byte-identical.")]
ShrinkOpt = Annotated[
    bool, _opt("--shrink-windows/--no-shrink-windows", help="Sample the window size per word, as word2vec does.")
]
MinNOpt = Annotated[int, _opt("--min-n", min=1, help="FastText: shortest character n-gram.")]
MaxNOpt = Annotated[int, _opt("--max-n", min=1, help="FastText: longest character n-gram.")]
BucketOpt = Annotated[int, _opt("--bucket", min=1, help="FastText: hash buckets for n-grams.")]
TokenizerOpt = Annotated[
    Tokenizer | None,
    _opt(
        "--tokenizer",
        help="simple: gensim's simple_preprocess (lowercase words of 2-15 letters). whitespace: split on spaces. "
        "regex: matches of --token-pattern. words: Unicode words, case kept.",
        panel=CORPUS,
        show_default="simple; items: whitespace",
    ),
]
TokenPatternOpt = Annotated[
    str | None, _opt("--token-pattern", help="Regular expression for --tokenizer regex.", panel=CORPUS)
]
LowercaseOpt = Annotated[bool, _opt("--lowercase", help="Lowercase before tokenizing.", panel=CORPUS)]
PhrasesOpt = Annotated[
    bool, _opt("--phrases", help="Join common bigrams into one token (new_york) before training.", panel=CORPUS)
]
PhrasesMinCountOpt = Annotated[
    int, _opt("--phrases-min-count", min=1, help="--phrases: ignore rarer bigrams.", panel=CORPUS)
]
PhrasesThresholdOpt = Annotated[
    float, _opt("--phrases-threshold", help="--phrases: score a bigram needs (higher: fewer).", panel=CORPUS)
]
CorpusModeOpt = Annotated[
    CorpusMode,
    _opt(
        "--corpus-mode",
        help="How gensim reads the corpus: iterable (token lists in memory) or file (gensim's corpus_file, "
        "spooled to a temporary file). auto (measured faster): file from 3 workers on, "
        "iterable below that, for Doc2Vec and for --tokenizer regex (tokens may hold spaces).",
        panel=CORPUS,
    ),
]
EstimateOpt = Annotated[
    bool,
    _opt(
        "--estimate",
        help="Print the memory estimate for this corpus and settings (gensim's; GloVe: parameters and matrix), "
        "and exit.",
        panel=OUTPUT,
    ),
]
SaveCooccurOpt = Annotated[
    str | None,
    _opt(
        "--save-cooccur",
        help="GloVe: also keep the co-occurrence matrix in this .npz file (no pickle), for --cooccur.",
        panel=OUTPUT,
        show_default=False,
    ),
]
CooccurOpt = Annotated[
    str | None,
    _opt(
        "--cooccur",
        help="GloVe: train from a matrix kept with --save-cooccur, reading no input.",
        panel=CORPUS,
        show_default=False,
    ),
]
EvalOpt = Annotated[
    bool,
    _opt(
        "--eval",
        help="After training, evaluate on gensim's questions-words.txt (analogies), wordsim353.tsv and simlex999.txt.",
        panel=OUTPUT,
    ),
]
EvalAnalogiesOpt = Annotated[
    list[str] | None,
    _opt("--eval-analogies", help="Evaluate on this analogy file (word2vec format; repeatable).", panel=OUTPUT),
]
EvalPairsOpt = Annotated[
    list[str] | None,
    _opt("--eval-pairs", help="Evaluate on this word-pair file (word, word, score; repeatable).", panel=OUTPUT),
]
EvalJsonOpt = Annotated[
    str | None, _opt("--eval-json", help="Write the evaluation as JSON to this file ('-': stdout).", panel=OUTPUT)
]
LossOpt = Annotated[
    bool | None,
    _opt(
        "--loss/--no-loss",
        help="Word2Vec: compute each epoch's training loss.",
        panel=OUTPUT,
        show_default="on when the progress bar shows",
    ),
]
ResumeOpt = Annotated[
    str | None,
    _opt(
        "--resume",
        help="Go on training a model kept with --save-model, on these inputs (its own settings are kept). "
        "Needs --trust-pickle.",
        panel=OUTPUT,
        show_default=False,
    ),
]
TrustPickleOpt = Annotated[
    bool,
    _opt(
        "--trust-pickle",
        help="Allow loading a saved gensim model: it is a Python pickle, which can run code. Only trusted models.",
        panel=OUTPUT,
    ),
]
