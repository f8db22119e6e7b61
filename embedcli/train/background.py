"""Reading a spooled corpus in a forked child process while this process imports gensim.

Importing gensim and reading and tokenizing the corpus both take about a second and both hold the GIL, so
threads cannot overlap them, but two processes can (measured: bench/train-measurements.md). The child writes
the spooled file (gensim's corpus_file path) and sends back only what this process needs to build the
vocabulary: the word counts and statistics. For gensim's iterable path this process then loads the token lists
back from that file: tokens never hold whitespace there, as the tokenizers that could (`regex`) read in place.

It applies only where it is safe and useful: POSIX fork, files rather than stdin (so that a failed child can
be retried here), no other Python thread running, and the module not imported yet. Everything else reads
in this process, as does any run whose child fails: reading again here raises the same error, word for word.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable

from embedcli.formats import STDIO
from embedcli.formats.text_inputs import RecordReader
from embedcli.train.sentences import TokenCorpus, cyclic_gc_paused, spool_for_parent


def read_while_importing(
    read: Callable[[bool], TokenCorpus], reader: RecordReader, module: str, spool: bool
) -> TokenCorpus:
    """`read(spool)` (tokenize_text_files over `reader`), run spooled in a child process while this one
    imports `module`; the same corpus and `reader.skipped_blank` as calling it here. Without `spool`, the
    token lists are loaded back into memory from the child's file. Raises what `read()` raises."""
    if not _can_fork(reader, module):
        return read(spool)
    blank_before = reader.skipped_blank
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(lambda: read(True), reader, write_end)
    os.close(write_end)
    answer = os.fdopen(read_end, "rb")
    data = b""
    try:
        importlib.import_module(module)
        data = answer.read()
        os.waitpid(pid, 0)
    except BaseException:
        answer.close()  # a child still writing its answer gets a broken pipe, and removes its spooled file
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        if data:  # the child had finished: its spooled file is this process's to remove
            with contextlib.suppress(OSError):
                os.unlink(pickle.loads(data)[0])
        raise
    answer.close()
    if not data:  # the child failed: read here, which raises the error itself
        reader.skipped_blank = blank_before
        return read(spool)
    path, counts, stats, blank = pickle.loads(data)
    reader.skipped_blank = blank
    corpus = TokenCorpus(counts, stats, [], [], path=path)
    return corpus if spool else _in_memory(corpus)


def _in_memory(spooled: TokenCorpus) -> TokenCorpus:
    """The corpus with its token lists loaded from its spooled file, which is removed."""
    with spooled, cyclic_gc_paused():
        with open(spooled.path, encoding="utf-8") as f:  # type: ignore[arg-type]
            lines = f.read().split("\n")
        lines.pop()  # after the last line ending
        sentences = list(map(str.split, lines))
    return TokenCorpus(spooled.counts, spooled.stats, [], [], sentences=sentences)


def _can_fork(reader: RecordReader, module: str) -> bool:
    return (
        hasattr(os, "fork")
        and module not in sys.modules
        and STDIO not in reader.paths
        and threading.active_count() == 1
    )


def _child(read: Callable[[], TokenCorpus], reader: RecordReader, write_end: int) -> None:
    status = 1
    try:
        spool_for_parent()
        corpus = read()
        data = pickle.dumps((corpus.path, corpus.counts, corpus.stats, reader.skipped_blank))
        try:
            with os.fdopen(write_end, "wb") as answer:
                answer.write(data)
            status = 0
        except BaseException:
            corpus.close()  # nobody will read it
    except BaseException:  # the parent reads again and reports the error
        pass
    finally:
        os._exit(status)
