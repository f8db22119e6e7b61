"""`embedcli models`: the shipped default model, the cached ONNX exports, and how to clear them."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from embedcli.backends.models import DEFAULT_MODEL, SHIPPED_MODELS, resolve_model, shipped_model_path
from embedcli.cli.console import info, plural

EPILOG = """\
Examples:

  embedcli models

  embedcli models --json | jq .exports

  embedcli models --export all-MiniLM-L6-v2

  embedcli models --clear

  EMBEDCLI_CACHE=/tmp/embedcli-cache embedcli models
"""


def models(
    export: Annotated[
        str | None,
        typer.Option(
            "--export",
            metavar="NAME",
            help="Export this model to ONNX now (fp32, checked against sentence-transformers), replacing a cached "
            "export or a remembered failure; the default backend then uses it.",
            show_default=False,
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Delete every cached export (rebuilt on use).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout instead of a table.")] = False,
) -> None:
    """List the shipped models and the cached ONNX exports (model, options, size, path).

    The cache lives in $EMBEDCLI_CACHE, else $XDG_CACHE_HOME/embedcli, else ~/.cache/embedcli.
    Exit status: 0 ok, 1 failure, 2 usage error.
    """
    from embedcli.backends.onnx.cache import clear_cache, exports_dir

    if export is not None:
        from embedcli.backends.auto import export_for_auto

        model = resolve_model(export)
        result = export_for_auto(model, announce=info, refresh=True)
        info(
            f"exported {model.name} to ONNX in {result.seconds:.0f} s (max |diff| to sentence-transformers "
            f"{result.max_abs_error or 0:.1g}): {result.entry.path}"
        )
        return
    if clear:
        count, freed = clear_cache()
        info(f"removed {plural(count, 'cached export')} ({_size(freed)}) from {exports_dir()}")
        return
    listing = _listing()
    if as_json:
        print(json.dumps(listing, indent=2))
        return
    for model in listing["shipped"]:
        default = " (default)" if model["default"] else ""
        print(f"shipped  {model['name']}{default}  {model['path'] or 'not installed'}")
    print(f"cache    {listing['cache']}")
    if not listing["exports"]:
        print("exports  none yet: `embedcli models --export NAME` (or a first `embed`) exports a model")
    for entry in listing["exports"]:
        print(f"export   {entry['model']}  {entry['quantize']}  {_size(entry['size'])}  {entry['path']}")
    if listing["exports"]:
        print("clear    embedcli models --clear")


def _listing() -> dict[str, Any]:
    from embedcli.backends.onnx.cache import exports_dir, list_entries

    shipped = [
        {"name": name, "default": name == DEFAULT_MODEL, "path": str(shipped_model_path(name) or "") or None}
        for name in SHIPPED_MODELS
    ]
    exports = [
        {
            "model": e.manifest.get("model"),
            "source": e.manifest.get("source"),
            "quantize": e.manifest.get("options", {}).get("quantize"),
            "options": e.manifest.get("options"),
            "exporter": e.manifest.get("exporter"),
            "size": e.size,
            "created": e.manifest.get("created"),
            "path": str(e.path),
        }
        for e in list_entries()
    ]
    return {"shipped": shipped, "cache": str(exports_dir()), "exports": exports}


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"
