"""maps: time to cluster, name and draw N points (default 100,000) as PNG, SVG, PDF and HTML, and the files' sizes,
as ratios against the libraries called directly, measured side by side in one run.

Points: 30 Gaussian blobs of uneven sizes in 2-D; texts: ~80 characters of topic words, filler and a row number.
Peers:
  PNG   matplotlib called directly: one Figure, one scatter of every point in its cluster's colour, savefig
        (same size and dpi; no names, no label placement)
  HTML  plotly: one Scattergl trace with hover text, write_html with plotly.js inlined (install plotly)
  page  the time a headless Chromium takes from navigation to the first frame drawn, for both pages (skipped
        without chromium or websocket-client; plotly's WebGL runs on SwiftShader there, a CPU renderer)
Names: on a crowded map (5,000 points, 40 k-means clusters, 8 in at 100 dpi), embedcli's placement against
  adjustText 1.4 (install adjustText; ensure_inside_axes) started from the same centres: overlapping pairs of
  name boxes, names outside the frame, names left out, seconds.
Clustering: embedcli's cluster_points (HDBSCAN on a seeded sample of 20,000 points, the rest by nearest
neighbour) and name_clusters (c-TF-IDF); `--full-hdbscan` adds sklearn's HDBSCAN on every point (a minute or more).
The machine is shared with other jobs: figures are noisy, read ratios rather than seconds.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SEED = 1234
WORDS = ("alpha", "river", "engine", "market", "garden", "signal", "planet", "recipe", "league", "poem", "castle")


def _corpus(n: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(SEED)
    centres = rng.uniform(-50, 50, size=(30, 2))
    weights = rng.pareto(1.5, 30) + 0.2
    blob = rng.choice(30, n, p=weights / weights.sum())
    points = centres[blob] + rng.normal(size=(n, 2)) * rng.uniform(0.5, 3, 30)[blob, None]
    # Four made-up topic words per blob, e.g. "kobadi"; the shared words are spread over every blob.
    syllables = ["ka", "lo", "mi", "ne", "ru", "to", "vi", "sa", "de", "po"]
    vocab = ["".join(rng.choice(syllables, 3)) for _ in range(120)]
    texts = [
        f"{' '.join(rng.choice(vocab[4 * b : 4 * b + 4], 4))} the people said {' '.join(rng.choice(WORDS, 3))} #{i}"
        for i, b in enumerate(blob)
    ]
    return points.astype(np.float32), texts


def _timed(run: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _matplotlib_png(points: np.ndarray, colours: list[str], size: float, dpi: int) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size, size), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.scatter(points[:, 0], points[:, 1], c=colours, s=0.3, linewidths=0)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _plotly_html(points: np.ndarray, texts: list[str], colours: list[str]) -> bytes | None:
    try:
        import plotly.graph_objects as go
    except ImportError:
        return None
    trace = go.Scattergl(
        x=points[:, 0], y=points[:, 1], mode="markers", hovertext=texts, hoverinfo="text",
        marker={"color": colours, "size": 3},
    )  # fmt: skip
    return go.Figure(trace).to_html(include_plotlyjs=True, full_html=True).encode()


class _Browser:
    """Headless Chromium over the DevTools protocol: navigate, then poll an expression until it is true."""

    def __init__(self, binary: str, profile: Path) -> None:
        import websocket

        flags = ["--headless", "--no-sandbox", "--remote-debugging-port=0", "--remote-allow-origins=*"]
        flags += ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--window-size=1000,800"]
        self.process = subprocess.Popen(
            [binary, *flags, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            page = next(t for t in json.load(reply) if t["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=120)
        self.next_id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                return message.get("result", {})

    def load_seconds(self, path: Path, ready: str, limit: float = 120) -> float | None:
        self.send("Page.navigate", url="about:blank")
        started = time.perf_counter()
        self.send("Page.navigate", url=path.as_uri())
        while time.perf_counter() - started < limit:
            value = self.send("Runtime.evaluate", expression=ready, returnByValue=True)
            if value.get("result", {}).get("value") is True:
                return time.perf_counter() - started
            time.sleep(0.02)
        return None

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        self.process.wait(10)


OURS_READY = "Boolean(window.embedcliMap && window.embedcliMap.ready)"
PLOTLY_READY = "(() => { const d = document.querySelector('.js-plotly-plot'); return !!(d && d._fullLayout); })()"


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 points, 1 round, no browser")
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--size", type=float, default=10.0)
    parser.add_argument("--dpi", type=int, default=100)
    parser.add_argument("--no-browser", action="store_true", help="skip the page-load timings in Chromium")
    parser.add_argument("--full-hdbscan", action="store_true", help="also time sklearn's HDBSCAN on every point")
    args = parser.parse_args(argv)
    if args.quick:
        args.points, args.rounds, args.no_browser = 10_000, 1, True

    from embedcli.reduce.clusters import cluster_points, name_clusters
    from embedcli.reduce.map_page import draw_html
    from embedcli.reduce.maps import cluster_coloring, draw_static

    points, texts = _corpus(args.points)
    import matplotlib.figure  # noqa: F401  (imports outside the timings)
    import sklearn.cluster
    import sklearn.feature_extraction.text  # noqa: F401

    results: dict[str, float] = {}
    results["cluster_s"], labels = _timed(lambda: cluster_points(points, seed=0), args.rounds)
    results["name_s"], names = _timed(lambda: name_clusters(labels, texts), args.rounds)
    if args.full_hdbscan:
        from sklearn.cluster import HDBSCAN

        min_size = int(np.clip(len(points) // 100, 5, 200))
        model = HDBSCAN(min_cluster_size=min_size, min_samples=min(10, min_size), copy=True)
        results["sklearn_hdbscan_all_s"] = _timed(lambda: model.fit_predict(points), 1)[0]
    coloring = cluster_coloring(labels, names)
    colours = [coloring.colors[g] if g >= 0 else "#BBBBBB" for g in coloring.groups]

    def static(fmt: str) -> bytes:
        out = io.BytesIO()
        draw_static(points, out, coloring=coloring, title="bench", format=fmt, size=args.size, dpi=args.dpi)
        return out.getvalue()

    def page() -> bytes:
        out = io.BytesIO()
        draw_html(points, out, texts=texts, coloring=coloring, title="bench")
        return out.getvalue()

    sides: dict[str, Callable[[], bytes | None]] = {
        "embedcli png": lambda: static("png"),
        "matplotlib png": lambda: _matplotlib_png(points, colours, args.size, args.dpi),
        "embedcli svg": lambda: static("svg"),
        "embedcli pdf": lambda: static("pdf"),
        "embedcli html": page,
        "plotly html": lambda: _plotly_html(points, texts, colours),
    }
    files: dict[str, bytes] = {}
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.rounds):  # round-robin, so load from other work on the machine hits every side alike
        for name, run in sides.items():
            seconds, made = _timed(run, 1)
            if made is not None:
                times[name].append(seconds)
                files[name] = made
    for name in files:
        results[f"{name.replace(' ', '_')}_s"] = statistics.median(times[name])
        results[f"{name.replace(' ', '_')}_bytes"] = len(files[name])

    placements = _label_peers()
    loads = {} if args.no_browser else _page_loads(files)
    results.update({f"{k}_load_s": v for k, v in loads.items()})

    clusters = len(set(labels.tolist()) - {-1})
    noise = (labels < 0).mean()
    print(f"maps of {args.points:,} points, {clusters} clusters ({noise:.1%} noise), median of {args.rounds}")
    print(f"cluster_points {results['cluster_s']:.2f} s, name_clusters {results['name_s']:.2f} s", end="")
    if "sklearn_hdbscan_all_s" in results:
        print(f"; sklearn HDBSCAN on every point {results['sklearn_hdbscan_all_s']:.1f} s", end="")
    print(f"\n{'side':<16} {'seconds':>8} {'MB':>8}")
    for name in files:
        key = name.replace(" ", "_")
        print(f"{name:<16} {results[key + '_s']:>8.2f} {results[key + '_bytes'] / 1e6:>8.2f}")
    if "plotly html" in files:
        print(f"html vs plotly: {results['plotly_html_s'] / results['embedcli_html_s']:.1f}x faster to write, "
              f"{results['plotly_html_bytes'] / results['embedcli_html_bytes']:.1f}x smaller")  # fmt: skip
    print(f"png vs matplotlib alone: {results['embedcli_png_s'] / results['matplotlib_png_s']:.2f}x the time")
    print("40 names on a crowded map: overlapping pairs, outside the frame, left out, seconds (draw + save)")
    for name, (overlaps, outside, dropped, seconds) in placements.items():
        print(f"  {name:<12} {overlaps:>3} {outside:>3} {dropped:>3} {seconds:>6.2f}")
        results[f"{name}_label_overlaps"] = overlaps
    for name, seconds in loads.items():
        print(f"Chromium, navigation to first frame, {name}: {seconds:.2f} s" if seconds else f"{name}: no frame")
    return results


def _label_peers() -> dict[str, tuple[int, int, int, float]]:
    """(overlapping pairs, outside the frame, left out, seconds) per side, on one crowded map."""
    import itertools

    from embedcli.reduce.clusters import cluster_points
    from embedcli.reduce.maps import cluster_coloring, draw_static

    points = np.random.default_rng(2).normal(size=(5_000, 2))
    labels = cluster_points(points, n_clusters=40, seed=0)
    names = {c: f"topic{c} word{c} longer{c}" for c in range(40)}

    def faults(figure: Any, texts: list[Any]) -> tuple[int, int]:
        renderer = figure.canvas.get_renderer()
        frame = figure.axes[0].get_window_extent(renderer)
        boxes = [t.get_window_extent(renderer) for t in texts]
        overlaps = sum(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
        inside = [frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes]
        return int(overlaps), inside.count(False)

    started = time.perf_counter()
    drawn = draw_static(points, io.BytesIO(), coloring=cluster_coloring(labels, names), size=8, dpi=100)
    sides = {"embedcli": (*faults(drawn.figure, drawn.labels), drawn.dropped, time.perf_counter() - started)}
    try:
        from adjustText import adjust_text
    except ImportError:
        return sides
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    started = time.perf_counter()
    figure = Figure(figsize=(8, 8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.scatter(points[:, 0], points[:, 1], s=5, linewidths=0)
    texts = []
    for c in range(40):
        members = points[labels == c]
        x, y = members[np.argmin(((members - np.median(members, axis=0)) ** 2).sum(axis=1))]
        texts.append(axes.text(x, y, names[c], fontsize=10, fontweight="bold", ha="center", va="center"))
    adjust_text(texts, ax=axes, ensure_inside_axes=True)
    figure.savefig(io.BytesIO(), format="png")
    sides["adjustText"] = (*faults(figure, texts), 0, time.perf_counter() - started)
    return sides


def _page_loads(files: dict[str, bytes]) -> dict[str, float]:
    binary = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    try:
        import websocket  # noqa: F401
    except ImportError:
        binary = None
    if binary is None:
        print("page loads skipped: no chromium or websocket-client")
        return {}
    loads: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        browser = _Browser(binary, Path(folder) / "profile")
        try:
            for name, ready in (("embedcli html", OURS_READY), ("plotly html", PLOTLY_READY)):
                if name in files:
                    path = Path(folder) / f"{name.replace(' ', '_')}.html"
                    path.write_bytes(files[name])
                    seconds = browser.load_seconds(path, ready)
                    if seconds is not None:
                        loads[name.replace(" ", "_")] = seconds
        finally:
            browser.close()
    return loads


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
