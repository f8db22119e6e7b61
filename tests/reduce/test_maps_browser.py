"""The interactive map opened in a real headless Chromium, driven over the DevTools protocol (a tiny client on
websocket-client): the screenshot shows the points, hovering a point shows its text, the search box counts
matches, the wheel zooms and a drag pans. Skipped when Chromium or websocket-client is absent."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedcli.reduce.clusters import cluster_points, name_clusters
from embedcli.reduce.map_page import draw_html
from embedcli.reduce.maps import PALETTE, cluster_coloring
from embedcli.reduce.thumbnails import MapPictures, gather_pictures

BROWSER = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
WIDTH, HEIGHT = 900, 700
WORDS = (("football", "goal", "league"), ("galaxy", "planet", "telescope"), ("recipe", "oven", "flour"))


class DevTools:
    """Just enough of the Chrome DevTools Protocol: send a command on one page's websocket, wait for its reply."""

    def __init__(self, url: str) -> None:
        import websocket

        self.socket = websocket.create_connection(url, timeout=30)
        self.next_id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def mouse(self, kind: str, x: float, y: float, **extra: Any) -> None:
        self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    def close(self) -> None:
        self.socket.close()


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, list[str], np.ndarray]:
    rng = np.random.default_rng(11)
    topic = np.repeat(np.arange(3), 200)
    centres = np.array([[0.0, 0.0], [12.0, 0.0], [6.0, 10.0]])
    points = centres[topic] + rng.normal(size=(600, 2))
    texts = [f"{' '.join(rng.choice(WORDS[t], 3))} number {i}" for i, t in enumerate(topic)]
    return points, texts, cluster_points(points)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, corpus) -> Iterator[DevTools]:
    if BROWSER is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    pytest.importorskip("websocket", reason="websocket-client is not installed (pip install websocket-client)")
    points, texts, labels = corpus
    folder = tmp_path_factory.mktemp("browser")
    html = folder / "map.html"
    with html.open("wb") as out:
        draw_html(points, out, texts=texts, coloring=cluster_coloring(labels, name_clusters(labels, texts)), title="t")
    yield from _opened(html, folder / "profile")


def _opened(html: Path, profile: Path) -> Iterator[DevTools]:
    """`html` open in headless Chromium at the fixed viewport, until the generator is closed."""
    browser = subprocess.Popen(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",  # the test may run as root in a container
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},{HEIGHT}",
            html.as_uri(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        tools = DevTools(_page_socket(profile / "DevToolsActivePort"))
        _wait(lambda: tools.evaluate("Boolean(window.embedcliMap && window.embedcliMap.ready)"), "the map to load")
        # A fixed viewport (the window's size includes its frame, which varies between Chromium versions).
        tools.send("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
        _wait(lambda: tools.evaluate(f"innerWidth === {WIDTH} && innerHeight === {HEIGHT}"), "the viewport")
        yield tools
        tools.close()
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()


def _wait(check: Any, what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = check()
        except (OSError, RuntimeError, ValueError):
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _page_socket(port_file: Path) -> str:
    port = _wait(lambda: port_file.read_text().split()[0], "Chromium's debugging port")

    def page_url() -> str | None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as reply:
            targets = json.load(reply)
        return next((t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"), None)

    return str(_wait(page_url, "the page target"))


def test_screenshot_shows_the_points(page, corpus) -> None:
    from PIL import Image

    shot = page.send("Page.captureScreenshot", format="png")
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")).astype(int)
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    white = (pixels.sum(axis=2) == 3 * 255).mean()
    assert 0.5 < white < 0.98  # mostly background, but not blank
    for colour in PALETTE[:3]:  # each cluster's colour, painted at alpha 0.85 on white
        rgb = 0.85 * np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) + 0.15 * 255
        assert (np.abs(pixels - rgb).sum(axis=2) < 30).sum() > 500, colour


def test_hovering_a_point_shows_its_text(page, corpus) -> None:
    _, texts, labels = corpus
    names = name_clusters(labels, texts)
    for i in (5, 250, 480):
        x, y = page.evaluate(f"embedcliMap.toScreen({i})")
        page.mouse("mouseMoved", x, y)
        shown = _wait(lambda: page.evaluate("document.getElementById('tooltip').hidden ? null : "
                                            "[+tooltip.dataset.index, tooltip.querySelector('b').textContent, "
                                            "tooltip.querySelector('span').textContent]"), "the tooltip")  # fmt: skip
        assert shown == [i, names[int(labels[i])], texts[i]]
    page.mouse("mouseMoved", 3, 3)  # a corner far from every point
    assert page.evaluate("document.getElementById('tooltip').hidden") is True


def test_search_counts_the_matching_texts(page, corpus) -> None:
    _, texts, _ = corpus
    page.evaluate("document.getElementById('search').focus()")
    page.send("Input.insertText", text="telescope")
    expected = sum("telescope" in t for t in texts)
    assert expected > 0
    found = _wait(lambda: page.evaluate("document.getElementById('found').textContent"), "the match count")
    assert found == f"{expected:,} found"
    page.evaluate("const s = document.getElementById('search'); s.value = ''; s.dispatchEvent(new Event('input'))")
    assert page.evaluate("document.getElementById('found').textContent") == ""


def test_wheel_zooms_and_drag_pans(page) -> None:
    def spread() -> float:
        (ax, ay), (bx, by) = page.evaluate("[embedcliMap.toScreen(0), embedcliMap.toScreen(599)]")
        return float(np.hypot(ax - bx, ay - by))

    before = spread()
    page.mouse("mouseWheel", WIDTH / 2, HEIGHT / 2, deltaX=0, deltaY=-300)
    _wait(lambda: spread() > 1.5 * before, "the wheel to zoom in")
    start = page.evaluate("embedcliMap.toScreen(0)")
    page.mouse("mousePressed", 400, 300, button="left", clickCount=1)
    page.mouse("mouseMoved", 460, 340, button="left", buttons=1)
    page.mouse("mouseReleased", 460, 340, button="left", clickCount=1)
    end = page.evaluate("embedcliMap.toScreen(0)")
    assert end[0] - start[0] == pytest.approx(60, abs=1) and end[1] - start[1] == pytest.approx(40, abs=1)


# --- pictures (image corpora) -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def picture_page(tmp_path_factory: pytest.TempPathFactory, corpus) -> Iterator[tuple[DevTools, MapPictures]]:
    """The same points as an image corpus: each point's picture a pure colour per cluster (none of the palette)."""
    if BROWSER is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    pytest.importorskip("websocket", reason="websocket-client is not installed (pip install websocket-client)")
    from PIL import Image

    points, _, labels = corpus
    folder = tmp_path_factory.mktemp("pictures")
    ids = [f"{i}.png" for i in range(len(points))]
    for i, label in enumerate(labels):
        Image.fromarray(np.full((32, 48, 3), PICTURE_COLOURS[max(int(label), 0) % 3], dtype=np.uint8)).save(
            folder / ids[i]
        )
    pictures = gather_pictures(points, ids, str(folder), count=60, seed=0, clusters=labels)
    html = folder / "map.html"
    with html.open("wb") as out:
        draw_html(points, out, texts=ids, coloring=cluster_coloring(labels, {}), pictures=pictures)
    for tools in _opened(html, folder / "profile"):
        yield tools, pictures


PICTURE_COLOURS = ((255, 0, 255), (0, 255, 0), (0, 0, 255))


def test_pictures_are_drawn_at_their_points_and_shown_on_hover(picture_page) -> None:
    from PIL import Image

    page, pictures = picture_page
    drawn = _wait(lambda: page.evaluate("embedcliMap.pictures"), "the pictures to be drawn")
    assert 0 < drawn <= len(pictures.sample)
    shot = page.send("Page.captureScreenshot", format="png")
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")).astype(int)
    for colour in PICTURE_COLOURS:  # pictures of each cluster, on the map or beside the legend
        assert (np.abs(pixels - colour).sum(axis=2) < 30).sum() > 300, colour
    assert page.evaluate("document.querySelectorAll('#legend img').length") == sum(map(len, pictures.examples.values()))
    i = pictures.sample[0]
    x, y = page.evaluate(f"embedcliMap.toScreen({i})")
    page.mouse("mouseMoved", x, y)
    shown = _wait(lambda: page.evaluate("tooltip.hidden ? null : [+tooltip.dataset.index, "
                                        "!tooltip.querySelector('img').hidden]"), "the tooltip")  # fmt: skip
    assert shown == [i, True]
    j = next(j for j in range(len(pictures.pictures) + 1000) if j not in pictures.pictures)
    x, y = page.evaluate(f"embedcliMap.toScreen({j})")
    page.mouse("mouseMoved", x, y)
    shown = _wait(lambda: page.evaluate("tooltip.hidden ? null : [+tooltip.dataset.index, "
                                        "!tooltip.querySelector('img').hidden]"), "the tooltip")  # fmt: skip
    assert shown == [j, False]  # a point without a picture shows its text only
