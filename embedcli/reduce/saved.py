"""Saving fitted reducers and loading them back, with the checks that keep a reducer on the vectors it fits.

Linear reducers are arrays and a JSON header: NPZ (`.npz`, read with `allow_pickle=False`) or safetensors
(`.safetensors`). Nothing in them can run code. A UMAP model can only be kept as a pickle (`.pkl`), which can
run code when loaded, so it is loaded only when the caller says the file is trusted.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import PurePath
from typing import Any

import numpy as np
import orjson

from embedcli import __version__
from embedcli.errors import InputError, UsageError
from embedcli.formats import Kind, format_for
from embedcli.formats.outputs import AtomicTarget
from embedcli.formats.sources import check_readable
from embedcli.provenance import Provenance, vector_family
from embedcli.reduce.methods import LinearReducer, ModelReducer, Reducer, optional_module
from embedcli.reduce.settings import ReduceMethod

FORMAT = "embedcli-reducer"
FORMAT_VERSION = 1
ARRAYS = ("mean", "components", "explained_variance", "explained_variance_ratio")
# What must agree between the vectors a reducer was fitted on and the vectors it is applied to.
SOURCE_KEYS = ("model", "backend", "normalized", "prompt", "truncate_dim", "quantize")


def reducer_kind(path: str) -> str:
    """'npz', 'safetensors' or 'pickle', from the file's suffix (the registry's); anything else is a usage error."""
    return format_for(path, Kind.reducer)


def save_reducer(reducer: Reducer, path: str) -> bool:
    """Write `reducer` to `path` atomically. Returns True when it was written as a pickle (warn the user)."""
    kind = reducer_kind(path)
    if isinstance(reducer, ModelReducer) and kind != "pickle":
        raise UsageError(
            f"a {reducer.method.value} reducer can only be saved as a pickle, not as {kind}",
            hint=f"name it {PurePath(path).stem}.pkl (and load it back with --trust-pickle)",
        )
    if isinstance(reducer, LinearReducer) and kind == "pickle":
        raise UsageError(
            f"{reducer.method.value} reducers are saved as arrays, never pickled",
            hint=f"name it {PurePath(path).stem}.npz or .safetensors",
        )
    if not isinstance(reducer, LinearReducer | ModelReducer):
        raise UsageError(f"a {reducer.method.value} fit cannot be saved")
    header = _header(reducer)
    with AtomicTarget(path, PurePath(path).suffix) as target, open(target.path, "wb") as out:
        if isinstance(reducer, ModelReducer):
            pickle.dump({"header": header, "model": reducer.model}, out, protocol=pickle.HIGHEST_PROTOCOL)
        elif kind == "npz":
            arrays = _arrays(reducer)
            arrays["header"] = np.frombuffer(orjson.dumps(header), dtype=np.uint8)
            np.savez(out, **arrays)  # type: ignore[arg-type]
        else:
            st = optional_module("safetensors.numpy", "safetensors", "saving to .safetensors")
            out.write(st.save(_arrays(reducer), metadata={FORMAT: orjson.dumps(header).decode()}))
    return kind == "pickle"


def load_reducer(path: str, trust_pickle: bool = False) -> Reducer:
    """Read a reducer written by `save_reducer`. Pickles are refused unless `trust_pickle`."""
    check_readable(path)
    kind = reducer_kind(path)
    if kind == "pickle" and not trust_pickle:
        raise UsageError(
            f"'{path}' is a pickle, which can run code when loaded",
            hint="pass --trust-pickle if you made this file yourself",
        )
    try:
        if kind == "pickle":
            with open(path, "rb") as f:
                payload = pickle.load(f)
            header, model = payload["header"], payload["model"]
            return _model_reducer(_checked(header, path), model)
        if kind == "npz":
            with np.load(path, allow_pickle=False) as npz:
                header = orjson.loads(npz["header"].tobytes())
                arrays = {name: npz[name] for name in ARRAYS if name in npz.files}
        else:
            st = optional_module("safetensors.numpy", "safetensors", "loading .safetensors")
            with open(path, "rb") as f:
                data = f.read()
            arrays = st.load(data)
            header = orjson.loads(_safetensors_metadata(data)[FORMAT])
        return _linear_reducer(_checked(header, path), arrays)
    except (InputError, UsageError):
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError) as exc:
        raise InputError(f"{path}: not a reducer embedcli can read ({exc})") from None


def check_applicable(reducer: Reducer, width: int, provenance: Provenance, any_model: bool = False) -> None:
    """Raise InputError unless vectors of `width` described by `provenance` are what `reducer` was fitted on."""
    if width != reducer.input_dim:
        raise InputError(
            f"the reducer takes {reducer.input_dim}-dimensional vectors, but these have {width} dimensions",
            hint="apply it to vectors from the model it was fitted on",
        )
    if any_model:
        return
    for key in SOURCE_KEYS:
        fitted, given = reducer.source.get(key), provenance.get(key)
        if key == "backend":  # fp32 onnx and sentence-transformers make the same vectors: one family
            fitted = vector_family(fitted, reducer.source.get("quantize"))
            given = vector_family(provenance.get("backend"), provenance.get("quantize"))
        elif key == "quantize" and "none" in (fitted, given):
            continue  # fp32 onnx against a backend that records no quantize: the family above decides
        if fitted is not None and given is not None and fitted != given:
            raise InputError(
                f"the reducer was fitted on vectors with {key}={fitted!r}, but these have {key}={given!r}",
                hint="refit on these vectors, or pass --any-model to apply it anyway",
            )


def _header(reducer: Reducer) -> dict[str, Any]:
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "embedcli_version": __version__,
        "method": reducer.method.value,
        "input_dimension": reducer.input_dim,
        "output_dimension": reducer.output_dim,
        "seed": reducer.seed,
        "fitted_rows": reducer.fitted_rows,
        "source": {k: reducer.source.get(k) for k in (*SOURCE_KEYS, "dimension") if k in reducer.source},
    }
    if isinstance(reducer, LinearReducer):
        header.update(whiten=reducer.whiten, normalize=reducer.normalize)
    return header


def _arrays(reducer: LinearReducer) -> dict[str, np.ndarray]:
    arrays = {name: getattr(reducer, name) for name in ARRAYS}
    return {name: np.ascontiguousarray(a) for name, a in arrays.items() if a is not None}


def _checked(header: Any, path: str) -> dict[str, Any]:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InputError(f"{path}: not an embedcli reducer")
    if header.get("format_version", 0) > FORMAT_VERSION:
        raise InputError(f"{path}: written by a newer embedcli", hint="upgrade embedcli to read it")
    return header


def _linear_reducer(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> LinearReducer:
    method = ReduceMethod(header["method"])
    reducer = LinearReducer(
        method,
        int(header["input_dimension"]),
        int(header["output_dimension"]),
        whiten=bool(header.get("whiten")),
        normalize=bool(header.get("normalize")),
        seed=header.get("seed"),
        fitted_rows=int(header.get("fitted_rows", 0)),
        source=dict(header.get("source") or {}),
        **arrays,
    )
    if reducer.components is not None and reducer.components.shape != (reducer.output_dim, reducer.input_dim):
        raise InputError(f"components have shape {reducer.components.shape}, not what the header says")
    return reducer


def _model_reducer(header: dict[str, Any], model: Any) -> ModelReducer:
    return ModelReducer(
        ReduceMethod(header["method"]),
        int(header["input_dimension"]),
        int(header["output_dimension"]),
        model,
        seed=header.get("seed"),
        fitted_rows=int(header.get("fitted_rows", 0)),
        source=dict(header.get("source") or {}),
    )


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    """The `__metadata__` of a safetensors file: an 8-byte little-endian length, then a JSON header."""
    length = int.from_bytes(data[:8], "little")
    return orjson.loads(data[8 : 8 + length]).get("__metadata__") or {}
