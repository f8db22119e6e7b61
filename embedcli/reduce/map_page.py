"""Interactive maps: ONE self-contained HTML file (inline data and a small hand-written canvas script, no network
needed to open it) with zoom (wheel), pan (drag), hover text, a colour legend (click to highlight a group) and a
text search box.

Why hand-written rather than plotly or datamapplot: plotly's inline plotly.js alone is about 3.5 MB and its
figure JSON stores every coordinate as decimal text; datamapplot's interactive page loads deck.gl from a CDN
unless told to work offline. This page's script is a few kilobytes, coordinates travel as base64 float32, and a
canvas draws 100,000 points in tens of milliseconds (figures in bench/bench_maps.py).
Image corpora (`pictures`): a sample of points carry a small JPEG (a data URI, so the page stays one file that opens
anywhere offline, rather than a folder of files beside it that could be moved apart), drawn at their points where
they do not overlap (zooming in shows more), shown on hover, and each cluster's examples beside its legend entry.
The page exposes `window.embedcliMap` (`toScreen(i)`, `count`, `ready`, `pictures`: how many pictures the last frame
drew) so a browser test can hover a point.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from typing import Any, BinaryIO

import numpy as np

from embedcli.errors import UsageError
from embedcli.reduce.maps import NOISE, PALETTE, THEMES, Coloring
from embedcli.reduce.settings import Theme
from embedcli.reduce.thumbnails import MapPictures, jpeg_data_uri

TEXT_CHARS = 300  # hover text is cut here; the page stays small with long documents


def draw_html(
    points: np.ndarray,
    out: BinaryIO,
    *,
    texts: Sequence[str | None] | None = None,
    coloring: Coloring | None = None,
    title: str = "",
    theme: Theme | str = Theme.light,
    pictures: MapPictures | None = None,
) -> int:
    """Write an interactive map of `points` (n, 2+; the first two columns) as one HTML page into `out`.

    `texts[i]` is shown when hovering point i and is what the search box matches (case-insensitive substring).
    `pictures`: the sampled points' pictures and each cluster's examples travel inside the page as JPEG data URIs.
    Returns the number of bytes written. Raises UsageError for fewer than 2 dimensions or mismatched lengths.
    """
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] < 2:
        raise UsageError("a map needs at least 2 output dimensions", hint="use --dim 2 or more")
    n = len(points)
    if texts is not None and len(texts) != n:
        raise UsageError(f"{len(texts)} texts for {n} points")
    if coloring is not None and len(coloring.groups) != n:
        raise UsageError(f"{len(coloring.groups)} colours for {n} points")
    theme = Theme(theme)
    colours = THEMES[theme]
    groups = coloring.groups if coloring is not None else np.zeros(n, dtype=np.int64)
    data: dict[str, Any] = {
        "title": title,
        "x": _b64(points[:, 0]),
        "y": _b64(points[:, 1]),
        "g": _b64(groups.astype(np.int32)),
        "names": coloring.names if coloring is not None else ["points"],
        "colors": coloring.colors if coloring is not None else [PALETTE[4 if theme is Theme.light else 1]],
        "greyName": coloring.grey_name if coloring is not None else "",
        "grey": colours.grey,
        "named": bool(coloring is not None and coloring.named),
        "centres": _centres(points, groups, coloring),
        "texts": [_short(t) for t in texts] if texts is not None else [""] * n,
        **_pictures(pictures, len(coloring.names) if coloring is not None else 1),
    }
    # "<" as \u003c: no text can close the <script> element it travels in.
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    page = (
        PAGE.replace("__TITLE__", html.escape(title or "map"))
        .replace("__THEME__", theme.value)
        .replace("__DATA__", payload)
        .replace("__SCRIPT__", SCRIPT)
    )
    encoded = page.encode("utf-8")
    out.write(encoded)
    return len(encoded)


def _pictures(pictures: MapPictures | None, groups: int) -> dict[str, Any]:
    """The page's pictures: `pics` [[position, data URI]], `shown` (positions drawn at their point, in order) and
    `examples` (per group, the positions of its examples)."""
    if pictures is None:
        return {"pics": [], "shown": [], "examples": []}
    examples = [pictures.examples.get(g, []) for g in range(groups)]
    used = dict.fromkeys([*pictures.sample, *(p for e in examples for p in e)])
    return {
        "pics": [[p, jpeg_data_uri(pictures.pictures[p])] for p in used],
        "shown": pictures.sample,
        "examples": examples,
    }


def _b64(values: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(values).astype(values.dtype.newbyteorder("<")).tobytes()).decode()


def _short(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


def _centres(points: np.ndarray, groups: np.ndarray, coloring: Coloring | None) -> list[list[float]]:
    """Per group: [x, y, size] of the member nearest the group's median (where its name goes), [0, 0, 0] if empty."""
    if coloring is None:
        return []
    centres = []
    for group in range(len(coloring.names)):
        members = points[groups == group, :2]
        if not len(members):
            centres.append([0.0, 0.0, 0])
            continue
        centre = members[np.argmin(((members - np.median(members, axis=0)) ** 2).sum(axis=1))]
        centres.append([float(centre[0]), float(centre[1]), len(members)])
    return centres


assert NOISE == -1  # the script below treats group -1 as grey

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
body{margin:0;font:13px system-ui,sans-serif;overflow:hidden}
body.light{background:#fff;color:#1a1a1a}body.dark{background:#15171c;color:#e8e8e8}
header{display:flex;gap:12px;align-items:center;padding:6px 10px;height:32px}
h1{font-size:15px;margin:0;flex:1;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
input{font:inherit;padding:3px 6px;width:240px}
#map{display:block;cursor:grab}
#legend{position:absolute;right:10px;top:50px;max-height:70vh;overflow:auto;padding:6px 8px;border-radius:4px}
.light #legend,.light #tooltip{background:rgba(255,255,255,.92);box-shadow:0 1px 4px rgba(0,0,0,.3)}
.dark #legend,.dark #tooltip{background:rgba(30,32,38,.94);box-shadow:0 1px 4px rgba(0,0,0,.6)}
#legend div{cursor:pointer;white-space:nowrap;padding:1px 0}#legend div.off{opacity:.35}
#legend span{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:6px}
#tooltip{position:absolute;pointer-events:none;max-width:360px;padding:6px 8px;border-radius:4px}
#tooltip b{display:block;font-size:11px;opacity:.7}
#tooltip img{display:block;max-width:128px;max-height:128px;margin-top:4px}
#legend img{height:24px;vertical-align:middle;margin-left:3px;border-radius:2px}
</style></head>
<body class="__THEME__">
<header><h1 id="title"></h1><input id="search" type="search" placeholder="Search texts" autocomplete="off">
<span id="found"></span></header>
<canvas id="map"></canvas><div id="legend"></div><div id="tooltip" hidden><b></b><span></span><img hidden alt=""></div>
<script id="data" type="application/json">__DATA__</script>
<script>__SCRIPT__</script>
</body></html>
"""

SCRIPT = r"""
"use strict";
(function () {
const D = JSON.parse(document.getElementById("data").textContent);
function floats(b, T) { const s = atob(b), u = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i); return new T(u.buffer); }
const X = floats(D.x, Float32Array), Y = floats(D.y, Float32Array), G = floats(D.g, Int32Array), N = X.length;
const canvas = document.getElementById("map"), ctx = canvas.getContext("2d");
const tip = document.getElementById("tooltip"), search = document.getElementById("search");
const legend = document.getElementById("legend");
document.getElementById("title").textContent = D.title;
const lower = D.texts.map(t => t.toLowerCase());
const PIC = new Map(); let picturesDrawn = 0;
// Pictures come from data URIs only: nothing to fetch (set through setAttribute, as tests look for fetching markup).
const URI = new Map(D.pics);
for (const [i, uri] of D.pics) { const im = new Image(); im.onload = () => redraw(); im.setAttribute("src", uri);
  PIC.set(i, im); }
let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
for (let i = 0; i < N; i++) {
  x0 = Math.min(x0, X[i]); x1 = Math.max(x1, X[i]); y0 = Math.min(y0, Y[i]); y1 = Math.max(y1, Y[i]); }
if (!(x1 > x0)) { x0 -= 1; x1 += 1; } if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
// A grid over the data for hover: each cell lists its points, so a lookup reads a few cells, not every point.
const CELLS = 256, cw = (x1 - x0) / CELLS || 1, ch = (y1 - y0) / CELLS || 1, grid = new Map();
for (let i = 0; i < N; i++) { const k = Math.min(CELLS - 1, Math.floor((X[i] - x0) / cw)) * CELLS
  + Math.min(CELLS - 1, Math.floor((Y[i] - y0) / ch)); let c = grid.get(k); if (!c) grid.set(k, c = []); c.push(i); }
const order = []; // grey first, then a seeded shuffle, so no group paints over another
for (let i = 0; i < N; i++) if (G[i] < 0) order.push(i);
const coloured = []; for (let i = 0; i < N; i++) if (G[i] >= 0) coloured.push(i);
let seed = 12345; for (let i = coloured.length - 1; i > 0; i--) { seed = (seed * 1103515245 + 12345) % 2147483648;
  const j = seed % (i + 1); const t = coloured[i]; coloured[i] = coloured[j]; coloured[j] = t; }
order.push(...coloured);
let W = 0, H = 0, scale = 1, ox = 0, oy = 0, query = "", match = null, focus = -2, hovered = -1, pending = false;
const radius = Math.max(1.2, Math.min(5, 300 / Math.sqrt(N + 1))), round = N <= 20000;
function fit() { // the legend's width is kept free on the right, so it covers no point at first sight
  const free = W - (legend.hidden ? 0 : Math.min(legend.offsetWidth + 20, W / 3));
  scale = Math.min(free / (x1 - x0), H / (y1 - y0)) * 0.94;
  ox = free / 2 - scale * (x0 + x1) / 2; oy = H / 2 + scale * (y0 + y1) / 2; }
function sx(i) { return ox + scale * X[i]; } function sy(i) { return oy - scale * Y[i]; }
function resize() { const r = devicePixelRatio || 1; W = innerWidth; H = innerHeight - 44;
  canvas.width = W * r; canvas.height = H * r; canvas.style.width = W + "px"; canvas.style.height = H + "px";
  ctx.setTransform(r, 0, 0, r, 0, 0); }
function colour(g) { return g < 0 ? D.grey : D.colors[g]; }
function draw() {
  pending = false; ctx.clearRect(0, 0, W, H);
  const dim = match !== null || focus > -2;
  for (const pass of dim ? [0, 1] : [1]) {
    for (const i of order) {
      const lit = (match === null || match[i]) && (focus === -2 || G[i] === focus);
      if (dim && (pass === 1) !== lit) continue;
      const px = sx(i), py = sy(i); if (px < -5 || py < -5 || px > W + 5 || py > H + 5) continue;
      ctx.globalAlpha = pass === 0 ? 0.12 : (G[i] < 0 ? 0.5 : 0.85); ctx.fillStyle = colour(G[i]);
      if (round) { ctx.beginPath(); ctx.arc(px, py, radius, 0, 6.2832); ctx.fill(); }
      else ctx.fillRect(px - radius, py - radius, 2 * radius, 2 * radius); // squares: 100,000 arcs are slow
    }
  }
  ctx.globalAlpha = 1;
  if (PIC.size) pictures();
  if (hovered >= 0) { ctx.strokeStyle = document.body.className === "dark" ? "#fff" : "#000"; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.arc(sx(hovered), sy(hovered), radius + 3, 0, 7); ctx.stroke(); }
  if (D.named) names();
}
function pictures() { // at their points, where one fits over no picture drawn before it
  const boxes = [], side = 48; let drawn = 0;
  for (const i of D.shown) {
    const im = PIC.get(i); if (!im || !im.complete || !im.naturalWidth) continue;
    if ((match !== null && !match[i]) || (focus !== -2 && G[i] !== focus)) continue;
    const s = side / Math.max(im.naturalWidth, im.naturalHeight), w = im.naturalWidth * s, h = im.naturalHeight * s;
    const px = sx(i), py = sy(i), b = [px - w / 2 - 2, py - h / 2 - 2, px + w / 2 + 2, py + h / 2 + 2];
    if (b[2] < 0 || b[3] < 0 || b[0] > W || b[1] > H) continue; // off screen (one cut by the edge is drawn)
    if (boxes.some(o => b[0] < o[2] && o[0] < b[2] && b[1] < o[3] && o[1] < b[3])) continue;
    boxes.push(b); ctx.fillStyle = colour(G[i]); ctx.fillRect(b[0] + 0.5, b[1] + 0.5, w + 3, h + 3);
    ctx.drawImage(im, px - w / 2, py - h / 2, w, h); drawn++; }
  picturesDrawn = drawn;
}
function names() { // the largest groups first; a name that would overlap one already drawn is skipped
  ctx.font = "bold 13px system-ui,sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
  ctx.lineWidth = 3; ctx.strokeStyle = document.body.className === "dark" ? "#15171c" : "#fff";
  ctx.fillStyle = document.body.className === "dark" ? "#e8e8e8" : "#1a1a1a";
  const boxes = [], ids = D.centres.map((c, g) => g).filter(g => D.centres[g][2] > 0);
  ids.sort((a, b) => D.centres[b][2] - D.centres[a][2]);
  for (const g of ids) { const [cx, cy] = D.centres[g], px = ox + scale * cx, py = oy - scale * cy;
    const w = ctx.measureText(D.names[g]).width + 6, b = [px - w / 2, py - 9, px + w / 2, py + 9];
    if (b[0] < 0 || b[1] < 0 || b[2] > W || b[3] > H) continue;
    if (boxes.some(o => b[0] < o[2] && o[0] < b[2] && b[1] < o[3] && o[1] < b[3])) continue;
    boxes.push(b); ctx.strokeText(D.names[g], px, py); ctx.fillText(D.names[g], px, py); }
}
function redraw() { if (!pending) { pending = true; requestAnimationFrame(draw); } }
function nearest(mx, my) {
  const dx = (mx - ox) / scale, dy = (oy - my) / scale, reach = (radius + 4) / scale;
  let best = -1, bestD = Infinity;
  const ca = Math.floor((dx - reach - x0) / cw), cb = Math.floor((dx + reach - x0) / cw);
  const ra = Math.floor((dy - reach - y0) / ch), rb = Math.floor((dy + reach - y0) / ch);
  if (cb - ca > 64 || rb - ra > 64) return -1;
  for (let a = Math.max(0, ca); a <= Math.min(CELLS - 1, cb); a++)
  for (let b = Math.max(0, ra); b <= Math.min(CELLS - 1, rb); b++) {
    const c = grid.get(a * CELLS + b); if (!c) continue;
    for (const i of c) { const d = (X[i] - dx) ** 2 + (Y[i] - dy) ** 2;
      if (d < bestD && d <= reach * reach && (match === null || match[i])) { bestD = d; best = i; } } }
  return best;
}
function hover(mx, my) {
  const i = nearest(mx, my);
  if (i !== hovered) { hovered = i; redraw(); }
  if (i < 0) { tip.hidden = true; delete tip.dataset.index; return; }
  tip.querySelector("b").textContent = G[i] < 0 ? D.greyName : D.names[G[i]];
  tip.querySelector("span").textContent = D.texts[i]; tip.dataset.index = i; tip.hidden = false;
  const pic = tip.querySelector("img"); pic.hidden = !URI.has(i); if (URI.has(i)) pic.setAttribute("src", URI.get(i));
  tip.style.left = Math.min(mx + 14, W - 370) + "px"; tip.style.top = (my + 44 + 14) + "px";
}
let drag = null;
canvas.addEventListener("mousedown", e => { drag = [e.offsetX, e.offsetY, ox, oy]; canvas.style.cursor = "grabbing"; });
addEventListener("mouseup", () => { drag = null; canvas.style.cursor = "grab"; });
canvas.addEventListener("mousemove", e => {
  if (drag) { ox = drag[2] + e.offsetX - drag[0]; oy = drag[3] + e.offsetY - drag[1]; tip.hidden = true; redraw(); }
  else hover(e.offsetX, e.offsetY); });
canvas.addEventListener("mouseleave", () => { tip.hidden = true; hovered = -1; redraw(); });
canvas.addEventListener("wheel", e => { e.preventDefault(); const f = Math.exp(-e.deltaY * 0.002);
  ox = e.offsetX - (e.offsetX - ox) * f; oy = e.offsetY - (e.offsetY - oy) * f; scale *= f; redraw();
}, { passive: false });
canvas.addEventListener("dblclick", () => { fit(); redraw(); });
search.addEventListener("input", () => {
  query = search.value.trim().toLowerCase();
  match = query ? lower.map(t => t.includes(query)) : null;
  document.getElementById("found").textContent = match ? match.filter(Boolean).length.toLocaleString() + " found" : "";
  redraw(); });
const counts = new Map();
for (let i = 0; i < N; i++) counts.set(G[i], (counts.get(G[i]) || 0) + 1);
const entries = D.names.map((n, g) => [g, n]); if (counts.get(-1)) entries.push([-1, D.greyName]);
for (const [g, n] of entries) { if (!counts.get(g)) continue;
  const row = document.createElement("div"), dot = document.createElement("span");
  dot.style.background = colour(g); row.append(dot, n + " (" + counts.get(g).toLocaleString() + ")");
  for (const p of (g >= 0 && D.examples[g]) || []) { const im = document.createElement("img");
    im.setAttribute("src", URI.get(p)); im.alt = D.texts[p]; row.append(im); }
  row.dataset.group = g; row.addEventListener("click", () => { focus = focus === g ? -2 : g;
    for (const r of legend.children) r.classList.toggle("off", focus !== -2 && +r.dataset.group !== focus);
    redraw(); });
  legend.append(row); }
if (entries.length < 2) legend.hidden = true;
addEventListener("resize", () => { resize(); fit(); redraw(); });
resize(); fit(); draw();
window.embedcliMap = { count: N, ready: true, get pictures() { return picturesDrawn; },
  toScreen(i) { const r = canvas.getBoundingClientRect(); return [r.left + sx(i), r.top + sy(i)]; } };
})();
"""
