"""`train`'s block reader for plain-text inputs against the RecordReader path it stands in for: the same token
streams, counts, statistics and errors, on the real Gutenberg books (BOM, CRLF, latin-1) and on edge cases."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from conftest import SHARED_DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from embedcli.errors import InputError
from embedcli.formats.sources import Decoding
from embedcli.formats.text_inputs import FieldSpec, RecordReader
from embedcli.tokens import Tokenizer, simple_preprocess
from embedcli.train.sentences import MAX_TOKENS, plain_text_reader, tokenize_records, tokenize_text_files

BOOKS = SHARED_DATA / "gutenberg-en"
# UTF-8 with BOM, ASCII, and the two latin-1 editions (not valid UTF-8): all CRLF.
REAL = [BOOKS / "84-0.txt", BOOKS / "1661.txt", BOOKS / "latin1" / "345-8.txt", BOOKS / "latin1" / "1661-8.txt"]


def _both(paths: list[Path], decoding: Decoding, tokenizer: Tokenizer, pattern=None, lowercase=False, **kw):
    slow_reader = RecordReader([str(p) for p in paths], decoding=decoding)
    fast_reader = RecordReader([str(p) for p in paths], decoding=decoding)
    slow = tokenize_records(slow_reader, tokenizer, pattern, lowercase)
    assert plain_text_reader(fast_reader) is fast_reader
    fast = tokenize_text_files(fast_reader, tokenizer, pattern, lowercase, **kw)
    return (slow, slow_reader.skipped_blank), (fast, fast_reader.skipped_blank)


@pytest.mark.parametrize(
    ("tokenizer", "pattern", "lowercase", "block_size"),
    [
        (Tokenizer.simple, None, False, 1 << 20),
        (Tokenizer.simple, None, False, 4093),  # many block boundaries, none on purpose at a line end
        (Tokenizer.whitespace, None, True, 1 << 16),
        (Tokenizer.regex, r"[^,;]+", False, 1 << 16),  # matches spaces and carriage returns too
    ],
)
def test_same_token_streams_on_the_real_books(tokenizer, pattern, lowercase, block_size) -> None:
    (slow, slow_blank), (fast, fast_blank) = _both(
        REAL, Decoding("utf-8", "replace"), tokenizer, pattern, lowercase, block_size=block_size
    )
    assert fast.sentences == slow.sentences
    assert fast.counts == slow.counts
    assert fast.stats == slow.stats
    assert fast_blank == slow_blank > 0
    assert fast.stats.tokens > 50_000


def test_same_spooled_file_and_latin1_decoding(tmp_path: Path) -> None:
    slow = tokenize_records(
        RecordReader([str(p) for p in REAL[2:]], decoding=Decoding("latin-1")), Tokenizer.simple, spool=True
    )
    fast = tokenize_text_files(
        RecordReader([str(p) for p in REAL[2:]], decoding=Decoding("latin-1")), Tokenizer.simple, spool=True
    )
    with slow, fast:
        assert Path(fast.path).read_bytes() == Path(slow.path).read_bytes()  # type: ignore[arg-type]
        assert fast.counts == slow.counts and fast.counts["calèche"] == 7


def test_invalid_bytes_give_the_readers_error_word_for_word() -> None:
    latin1 = [str(REAL[2])]
    with pytest.raises(InputError) as slow:
        tokenize_records(RecordReader(latin1), Tokenizer.simple)
    for block_size in (1 << 20, 1000):
        with pytest.raises(InputError) as fast:
            tokenize_text_files(RecordReader(latin1), Tokenizer.simple, block_size=block_size)
        assert fast.value.message == slow.value.message
        assert fast.value.hint == slow.value.hint
    assert slow.value.message.startswith(f"{latin1[0]}:") and "column" in slow.value.message


EDGE_CASES = {
    "bom-only": b"\xef\xbb\xbf",
    "no-final-newline": b"first line here\r\nsecond line, no end",
    "blank-kinds": b"\n\r\n   \r\n\t\x0b\x0c\n\xc2\xa0\nword word\n\n",
    "lone-cr": b"one\rtwo three\r\r\nfour\n",
    "only-punctuation": b"!!! ...\n-- --\nok ok\n",
    "bad-utf8-replace": b"caf\xe9 au lait\n\xff\xfe broken\nend\xc3\n",
    "sigma": "ΟΔΟΣ\r\nΣΑΣ Σ\n".encode(),
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
@pytest.mark.parametrize("tokenizer", [Tokenizer.simple, Tokenizer.whitespace, Tokenizer.words])
def test_edge_cases(tmp_path: Path, name: str, tokenizer: Tokenizer) -> None:
    path = tmp_path / f"{name}.txt"
    path.write_bytes(EDGE_CASES[name])
    decoding = Decoding("utf-8", "replace")
    if name == "bom-only":  # no token at all: both paths say so, the same way
        with pytest.raises(InputError) as slow_error:
            tokenize_records(RecordReader([str(path)], decoding=decoding), tokenizer)
        with pytest.raises(InputError) as fast_error:
            tokenize_text_files(RecordReader([str(path)], decoding=decoding), tokenizer, block_size=7)
        assert fast_error.value.message == slow_error.value.message
        return
    (slow, slow_blank), (fast, fast_blank) = _both([path], decoding, tokenizer, block_size=7)
    assert (fast.sentences, fast.counts, fast.stats) == (slow.sentences, slow.counts, slow.stats)
    assert fast_blank == slow_blank


def test_gzip_input_and_long_lines_split_alike(tmp_path: Path) -> None:
    line = " ".join(f"w{i % 50}x" for i in range(2 * MAX_TOKENS + 5))
    path = tmp_path / "long.txt.gz"
    path.write_bytes(gzip.compress(f"short line\n{line}\n\nlast\n".encode()))
    (slow, _), (fast, _) = _both([path], Decoding(), Tokenizer.whitespace, block_size=1000)
    assert fast.stats.split_texts == slow.stats.split_texts == 1
    assert fast.sentences == slow.sentences and [len(s) for s in fast.sentences] == [2, MAX_TOKENS, MAX_TOKENS, 5, 1]


def test_only_plain_text_in_a_blockwise_codec_takes_the_block_reader(tmp_path: Path) -> None:
    txt = tmp_path / "a.txt"
    txt.write_text("a b\n")
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"text": "a b"}\n')
    assert plain_text_reader(RecordReader([str(txt)])) is not None
    assert plain_text_reader(RecordReader([str(txt)], decoding=Decoding("utf-16"))) is None
    assert plain_text_reader(RecordReader([str(txt), str(jsonl)], fields=FieldSpec())) is None
    assert plain_text_reader(RecordReader([str(txt)], texts=["x y"])) is None
    assert plain_text_reader([]) is None


def test_simple_preprocess_equals_gensims_on_the_books() -> None:
    from gensim.utils import simple_preprocess as gensim_simple

    for path in REAL[:2]:
        for line in path.read_text(encoding="utf-8").splitlines():
            assert simple_preprocess(line) == gensim_simple(line)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab_Z1é Σς ÀİǅΣ\u0301-'\t\n") | st.characters(), max_size=60))
def test_simple_preprocess_equals_gensims_on_any_text(text: str) -> None:
    from gensim.utils import simple_preprocess as gensim_simple

    assert simple_preprocess(text) == gensim_simple(text)


CHILD_READ = """
import sys, threading
from functools import partial
from pathlib import Path
from embedcli.formats.text_inputs import RecordReader
from embedcli.tokens import Tokenizer
from embedcli.train.background import read_while_importing
from embedcli.train.sentences import tokenize_text_files
paths, spool, module, tmp = sys.argv[1:3], sys.argv[3] == "spool", sys.argv[4], sys.argv[5]
assert threading.active_count() == 1 and module not in sys.modules  # so the child is forked
here_reader = RecordReader(paths)
here = tokenize_text_files(here_reader, Tokenizer.simple, spool=spool, spool_dir=tmp)
reader = RecordReader(paths)
read = partial(tokenize_text_files, reader, Tokenizer.simple, None, False, spool_dir=tmp)
child = read_while_importing(read, reader, module, spool)
assert module in sys.modules  # imported here while the child read
with here, child:
    if spool:
        assert child.path != here.path
        assert Path(child.path).read_bytes() == Path(here.path).read_bytes()
        # Both spools name this process, the one that removes them (the child named its parent), so a sweep by
        # any run while this one lives leaves them alone.
        import os
        from embedcli.formats.outputs import sweep_stale, TEMP_NAME
        for spooled in (here.path, child.path):
            assert TEMP_NAME.search(Path(spooled).name).group(1) == str(os.getpid()), spooled
        assert sweep_stale(tmp) == [] and Path(child.path).exists()
    else:
        assert child.path is None and child.sentences == here.sentences
    assert (child.counts, child.stats) == (here.counts, here.stats)
    assert list(child.counts) == list(here.counts)  # first-seen order too: it orders vocabulary ties
    assert reader.skipped_blank == here_reader.skipped_blank > 0
print("same")
"""


@pytest.mark.parametrize(("module", "spool"), [("tabnanny", True), ("pickletools", False)])
def test_reading_in_a_child_while_importing_gives_the_same_corpus(module: str, spool: bool, tmp_path: Path) -> None:
    """In a fresh interpreter: the test process runs other threads (tqdm's monitor, ...), where no child forks."""
    import subprocess
    import sys

    paths = [str(p) for p in REAL[:2]]
    mode = "spool" if spool else "memory"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD_READ, *paths, mode, module, str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "same", proc.stderr
    assert not list(tmp_path.iterdir())  # spooled files removed


def test_a_failing_child_gives_the_readers_error(tmp_path: Path) -> None:
    import sys
    from functools import partial

    from embedcli.train.background import read_while_importing

    if "this" in sys.modules:
        pytest.skip("already imported")
    latin1 = [str(REAL[2])]
    with pytest.raises(InputError) as slow:
        tokenize_records(RecordReader(latin1), Tokenizer.simple)
    reader = RecordReader(latin1)
    read = partial(tokenize_text_files, reader, Tokenizer.simple, None, False, spool_dir=str(tmp_path))
    with pytest.raises(InputError) as fast:
        read_while_importing(read, reader, "this", True)  # the Zen of Python: prints while imported, harmless
    assert fast.value.message == slow.value.message
    assert not list(tmp_path.iterdir())


def test_train_on_text_imports_no_library_it_does_not_need(tmp_path: Path) -> None:
    import subprocess
    import sys

    corpus = tmp_path / "c.txt"
    corpus.write_bytes(REAL[0].read_bytes()[:200_000])
    heavy = ["pyarrow", "torch", "sentence_transformers", "transformers", "sklearn", "onnxruntime", "umap"]
    script = (
        "import runpy, sys\n"
        f"sys.argv = ['embedcli', 'train', {str(corpus)!r}, '-o', {str(tmp_path / 'v.bin')!r}, '-q', '--epochs', '1']\n"
        "try:\n    runpy.run_module('embedcli', run_name='__main__')\nexcept SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
    assert (tmp_path / "v.bin").exists()


@pytest.mark.parametrize("mode", ["file", "iterable"])
def test_phrases_leave_no_spooled_file(mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from embedcli.train.run import Targets, run_training
    from embedcli.train.settings import CorpusMode, TrainSettings

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    settings = TrainSettings(dim=8, epochs=1, workers=1, phrases=True, corpus_mode=CorpusMode(mode))
    outcome = run_training(RecordReader([str(REAL[0])]), settings, Targets())
    assert outcome.phrases > 0 and outcome.report is not None
    assert not list(tmp_path.iterdir())


def test_auto_corpus_mode() -> None:
    from embedcli.train.fit import choose_corpus_mode
    from embedcli.train.settings import Algorithm, CorpusMode, TrainSettings

    def mode(**kw) -> str:
        return choose_corpus_mode(TrainSettings(**kw).resolved()).value

    assert mode() == "file"  # 3 workers, gensim's default
    assert mode(workers=2) == mode(workers=1) == "iterable"
    assert mode(algorithm=Algorithm.doc2vec) == "iterable"
    assert mode(tokenizer=Tokenizer.regex, token_pattern=r"[^,]+") == "iterable"  # tokens may hold spaces
    assert mode(workers=1, corpus_mode=CorpusMode.file) == "file"
