"""embed --engine ray against the local engine: rows/s on real sentences, and Ray's fixed start-up cost, in one run.

Corpus: STS-B sentences (every sentence of train, dev and test, cycled to --rows; default 20,000) in one Parquet
file with id and text columns. Both engines embed it with the same model and batch size into Parquet:
  local   EmbedJob in this process (model load timed apart from embedding)
  ray     the same request with RayOptions: a new local Ray cluster, --workers actors of --cpus-per-worker CPUs,
          shards of --shard-rows rows, written as vectors/part-*.parquet + manifest
Reported: the fixed cost (local: model load; Ray: cluster start + actors loading the model), the steady rate
after it, the overhead of Ray's steady time over the local engine's embedding time, and the per-actor rate (rows/s
of one actor while it embeds), so scaling to N workers reads as N x that rate. The vectors of both runs are
compared (max abs difference). On a shared 2-core machine the figures are noisy: read the ratios, not the decimals.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
STSB = Path("/work/shared/data/stsbenchmark")


def _sentences(rows: int) -> list[str]:
    found: list[str] = []
    for split in ("sts-train.csv", "sts-dev.csv", "sts-test.csv"):
        with (STSB / split).open(encoding="utf-8") as f:
            for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                if len(r) >= 7:
                    found += [r[5], r[6]]
    return [found[i % len(found)] for i in range(rows)]


def _request(corpus: str, target: str, model: str | None, batch: int, ray: object):
    from embedcli.backends.base import BackendOptions
    from embedcli.embed.pipeline import EmbedSettings
    from embedcli.embed.run import EmbedRequest
    from embedcli.formats import OutputFormat
    from embedcli.formats.text_inputs import FieldSpec

    return EmbedRequest(
        inputs=[corpus],
        target=target,
        output_format=OutputFormat.parquet,
        fields=FieldSpec(id_column="id"),
        model=model,
        backend_options=BackendOptions(batch_size=batch),
        settings=EmbedSettings(batch_size=batch),
        ray=ray,  # type: ignore[arg-type]
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--model", default=None, help="default: the shipped all-MiniLM-L6-v2")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cpus-per-worker", type=float, default=float(os.cpu_count() or 2))
    parser.add_argument("--shard-rows", type=int, default=2_048)
    parser.add_argument("--quick", action="store_true", help="2,000 rows: a smoke run")
    args = parser.parse_args(argv)
    rows = 2_000 if args.quick else args.rows
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import pyarrow as pa
    import pyarrow.parquet as pq

    from embedcli.backends.models import resolve_model
    from embedcli.embed.pipeline import EmbeddingRun, EmbedSettings
    from embedcli.embed.ray_engine import RayOptions
    from embedcli.embed.run import EmbedJob, open_backend
    from embedcli.formats.shard_folder import read_shard_table
    from embedcli.formats.vector_files import read_vector_table

    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        corpus = os.path.join(tmp, "corpus.parquet")
        texts = _sentences(rows)
        pq.write_table(pa.table({"id": [f"s{i}" for i in range(rows)], "text": texts}), corpus)

        started = time.perf_counter()
        from embedcli.backends.base import BackendOptions

        EmbeddingRun(open_backend(None, resolve_model(args.model), BackendOptions()), EmbedSettings())
        local_load = time.perf_counter() - started
        started = time.perf_counter()
        load_local = os.getloadavg()[0]
        local = EmbedJob(_request(corpus, os.path.join(tmp, "local.parquet"), args.model, args.batch_size, None)).run()
        local_total = time.perf_counter() - started
        load_local = (load_local + os.getloadavg()[0]) / 2
        local_embed = local.report.seconds

        options = RayOptions(workers=args.workers, cpus_per_worker=args.cpus_per_worker, shard_rows=args.shard_rows)
        started = time.perf_counter()
        load_ray = os.getloadavg()[0]
        ray = EmbedJob(_request(corpus, os.path.join(tmp, "vectors"), args.model, args.batch_size, options)).run()
        ray_total = time.perf_counter() - started
        load_ray = (load_ray + os.getloadavg()[0]) / 2
        assert ray.shards is not None
        startup = ray.shards.startup_seconds
        steady = ray_total - startup

        a = read_vector_table(os.path.join(tmp, "local.parquet")).vectors
        b = read_shard_table(os.path.join(tmp, "vectors")).vectors
        diff = float(np.max(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32))))

    print(
        f"embed: {rows:,} STS-B sentences, model {args.model or 'all-MiniLM-L6-v2'}, batch {args.batch_size}, "
        f"{os.cpu_count()} CPUs; Ray: {args.workers} worker(s) x {args.cpus_per_worker:g} CPU, "
        f"shards of {args.shard_rows:,}"
    )
    print(f"{'engine':<8}{'fixed cost s':>14}{'steady s':>10}{'rows/s':>10}{'vs local':>10}")
    print(f"{'local':<8}{local_load:>14.1f}{local_embed:>10.1f}{rows / local_embed:>10.0f}{1.0:>9.2f}x")
    print(f"{'ray':<8}{startup:>14.1f}{steady:>10.1f}{rows / steady:>10.0f}{local_embed / steady:>9.2f}x")
    print(
        f"ray steady-time overhead over local embedding: {100 * (steady - local_embed) / local_embed:+.1f}% "
        f"(goal <= 15%); local end to end {local_total:.1f} s, ray end to end {ray_total:.1f} s"
    )
    rates = ", ".join(f"{r:,.0f}" for r in ray.shards.actor_rows_per_second)
    print(f"per-actor rate while embedding (rows/s): {rates}; max |local - ray| = {diff:.2e}")
    # Other jobs share this machine: a phase run under a heavier load is slower for that reason alone.
    print(f"load average (mean of start and end): local phase {load_local:.1f}, ray phase {load_ray:.1f}")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main(sys.argv[1:])
