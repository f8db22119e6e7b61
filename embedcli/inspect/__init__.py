"""`inspect` as a library: how the known limits of embeddings show up in a user's own vectors.

Entry points: `inspect_file(path, ...) -> InspectReport` (any vector file, store or word-vector file, `-` for a
pipe), `inspect_vectors(matrix, ...)` for arrays, `to_json(report)`, `draw_report(report, out)` (a one-page PNG).
Measures are in `measures` (with their references), verdict thresholds in `report`'s docstring.
"""

from embedcli.inspect.figure import draw_report
from embedcli.inspect.report import InspectReport, Level, inspect_vectors, to_json
from embedcli.inspect.run import inspect_file

__all__ = ["InspectReport", "Level", "draw_report", "inspect_file", "inspect_vectors", "to_json"]
