"""`embedcli inspect`: the limits of embeddings (concentration, hubness, cost, interpretability) in a file."""

from __future__ import annotations

import io
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from embedcli.cli import options as opt
from embedcli.cli.console import info
from embedcli.cli.io import resolve_inputs
from embedcli.formats import Kind
from embedcli.formats.targets import resolve_output
from embedcli.metrics import Metric

if TYPE_CHECKING:
    from embedcli.inspect import InspectReport

EPILOG = """\
Examples:

  embedcli inspect vectors.parquet

  embedcli inspect vectors.parquet --plot report.png

  embedcli inspect vectors.parquet --json | jq .hubness

  embedcli inspect words.bin --axes 5

  embedcli inspect kb.lance --sample 20000 --seed 1

  cat docs.txt | embedcli embed | embedcli inspect -
"""

MARKS = {"ok": "ok     ", "notice": "notice ", "warning": "WARNING"}


def inspect(
    source: Annotated[str | None, typer.Argument(help="Vector file, store or word-vector file ('-': stdin).")] = None,
    sample: Annotated[int, typer.Option("--sample", min=4, help="Rows measured (a seeded sample).")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample.")] = 0,
    axes: Annotated[int, typer.Option("--axes", min=0, help="Principal axes whose two ends are shown.")] = 3,
    metric: Annotated[
        Metric | None, typer.Option("--metric", help="Metric of the kNN measures. Default: cosine.", show_default=False)
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Every figure as one JSON object on stdout.")] = False,
    plot: Annotated[
        str | None, typer.Option("--plot", help="Also draw the report as a one-page PNG ('-': stdout).")
    ] = None,
    version: opt.StoreVersionOpt = None,
    quiet: opt.QuietOpt = False,
) -> None:
    """Measure how the known limits of embeddings show up in these vectors, with plain-language verdicts.

    Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted, 141 output pipe closed.
    """
    from embedcli.inspect import draw_report, inspect_file, to_json

    path = resolve_inputs([source] if source else None)[0]
    terminal = sys.stdout.isatty()
    target = None
    if plot:
        target = resolve_output(plot, Kind.plot, stdout_is_terminal=terminal, in_pipe="png", protected=[path])
        if target.to_stdout and json_out:
            raise typer.BadParameter("stdout can carry the JSON or the plot, not both", param_hint="--plot")
    report = inspect_file(path, metric=metric, sample=sample, seed=seed, axes=axes, version=version)
    if target is not None:
        from embedcli.formats.outputs import write_atomically

        image = io.BytesIO()
        draw_report(report, image, title=_name(path))
        write_atomically(image.getvalue(), target.path, ".png")
    if json_out:
        import orjson

        sys.stdout.buffer.write(orjson.dumps(to_json(report), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
    elif target is None or not target.to_stdout:
        sys.stdout.write(render(report, _name(path)))
    if not quiet and target is not None and not target.to_stdout:
        info(f"report drawn in {target.path}")


def _name(path: str) -> str:
    return "stdin" if path == "-" else path.rstrip("/").rsplit("/", 1)[-1]


def render(report: InspectReport, name: str) -> str:
    """The report as plain text: one section per limit, the verdict first, then its numbers."""
    r = report
    lines = [
        f"{name}: {r.rows:,} vectors of {r.dim} dimensions, {r.metric}; "
        f"sample of {r.sample.rows:,} rows (seed {r.sample.seed}), {r.sample.used:,} distinct non-zero",
        "",
    ]
    for verdict in r.verdicts:
        lines.append(f"[{MARKS.get(verdict.level.value, verdict.level.value)}] {verdict.topic}: {verdict.text}")
    c, h, d, a = r.concentration, r.hubness, r.intrinsic_dimension, r.anisotropy
    contrast = f"{c.relative_contrast:.3g} (p10 {c.relative_contrast_p10:.3g}, p90 {c.relative_contrast_p90:.3g})"
    lines += [
        "",
        f"distance concentration  relative contrast {contrast}; nearest is {c.nearest_closer:.1%} closer than "
        f"farthest; CV of distances {c.distance_cv:.3g}",
        f"hubness (k={h.k})           skewness {h.skewness:.2f}; anti-hubs {h.antihub_share:.1%}; "
        f"hubs {h.hub_share:.1%}; Robin Hood {h.robin_hood:.3f}; most frequent neighbour {h.max_occurrence} times",
        f"intrinsic dimension     TwoNN {d.twonn:.1f}; MLE (k={d.mle_k}) {d.mle:.1f}",
        f"anisotropy              mean cosine {a.mean_cosine:.3f}; after centring {a.mean_cosine_centred:.3f}",
        "spectrum                effective rank {:.1f}; {}".format(
            r.spectrum.effective_rank,
            ", ".join(
                f"{t:.0%} of variance in {n} dims"
                for t, n in zip(r.spectrum.variance_targets, r.spectrum.dims_for, strict=False)
            ),
        ),
        f"norms                   mean {r.norms.mean:.3g}, CV {r.norms.cv:.3g}, "
        f"range {r.norms.minimum:.3g}..{r.norms.maximum:.3g}",
        "cost                    " + "; ".join(f"{p.precision} {_bytes(p.file_bytes)}" for p in r.cost.precisions),
    ]
    for axis in r.axes:
        lines += ["", f"axis {axis.index + 1} ({axis.variance:.1%} of variance)"]
        lines.append("  + " + " | ".join(_item(i) for i in axis.high))
        lines.append("  - " + " | ".join(_item(i) for i in axis.low))
    return "\n".join(lines) + "\n"


def _item(item: Any) -> str:
    label = item.text if item.text else str(item.id)
    label = " ".join(str(label).split())
    return label[:60] + ("…" if len(label) > 60 else "")


def _bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"
