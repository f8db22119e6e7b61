"""Any layer of a transformers model: `--layer K` and `--layers A,B` / `A:B`, and the pooling of those states.

With `output_hidden_states=True` a model with N layers returns N+1 hidden states: index 0 is the embedding output
(for a CNN, the stem), index N the last layer (in transformers 5 replaced by the normalised `last_hidden_state`).
Negative indices count from the end, so -1 is the last state. Several layers are averaged, element-wise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from embedcli.errors import ModelError, UsageError


@dataclass(frozen=True)
class LayerSelection:
    """The hidden states to average, as the user wrote them (negative counts from the end)."""

    layers: tuple[int, ...]

    def __str__(self) -> str:
        return ",".join(str(k) for k in self.layers)

    def resolve(self, count: int, model_name: str) -> list[int]:
        """Absolute indices into `count` hidden states (N layers + 1); ModelError when one does not exist."""
        resolved = []
        for k in self.layers:
            index = k + count if k < 0 else k
            if not 0 <= index < count:
                raise ModelError(
                    f"model '{model_name}' has no layer {k}: it has {count} hidden states, "
                    f"0 (the embeddings) to {count - 1}, or -1 to -{count} from the end"
                )
            resolved.append(index)
        return resolved


def parse_layers(text: str | int) -> LayerSelection:
    """Parse `--layer K` (an int) or `--layers A,B,...` / `A:B` (inclusive range, both ends may be negative).

    Raises UsageError for anything else, or for a range whose ends have different signs (its length would depend on
    the model).
    """
    if isinstance(text, int):
        return LayerSelection((text,))
    spec = text.strip()
    try:
        if ":" in spec:
            first, _, last = spec.partition(":")
            a, b = int(first), int(last)
            if (a < 0) != (b < 0):
                raise UsageError(
                    f"--layers {spec}: both ends of a range must count from the same side",
                    hint="write e.g. 4:8 or -4:-1",
                )
            if a > b:
                raise UsageError(f"--layers {spec}: the range is empty (the first layer is after the last)")
            return LayerSelection(tuple(range(a, b + 1)))
        layers = tuple(int(part) for part in spec.split(","))
    except ValueError:
        raise UsageError(
            f"--layers {text!r}: expected a layer number, a list like 1,-1 or a range like 4:8",
        ) from None
    return LayerSelection(layers)


def layer_options(extra: dict[str, Any]) -> LayerSelection | None:
    """The layer selection a backend was given in `BackendOptions.extra["layers"]` (a LayerSelection, an int, a
    string as `parse_layers` reads it, or a sequence of ints), or None for the model's usual output."""
    value = extra.get("layers")
    if value is None or isinstance(value, LayerSelection):
        return value
    if isinstance(value, (int, str)):
        return parse_layers(value)
    return LayerSelection(tuple(int(k) for k in value))


def selected_states(hidden_states: Any, selection: LayerSelection, model_name: str) -> Any:
    """The mean of the selected hidden states (torch tensors of one shape), as float32.

    Raises ModelError when the model returned no hidden states.
    """
    if not hidden_states:
        raise ModelError(
            f"model '{model_name}' does not return its hidden states, so --layer/--layers cannot be used with it"
        )
    indices = selection.resolve(len(hidden_states), model_name)
    shapes = {tuple(hidden_states[i].shape) for i in indices}
    if len(shapes) > 1:
        raise ModelError(
            f"model '{model_name}': layers {selection} have different shapes ({', '.join(map(str, shapes))}); "
            "average layers of one shape"
        )
    total = hidden_states[indices[0]].float()
    for i in indices[1:]:
        total = total + hidden_states[i].float()
    return total / len(indices)


def masked_mean(states: Any, mask: Any | None) -> Any:
    """Mean over axis 1 of `states` (batch, steps, dim), counting only steps where `mask` (batch, steps) is nonzero;
    all steps when `mask` is None. Returns (batch, dim)."""
    if mask is None:
        return states.mean(dim=1)
    weights = mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def pool_text_layers(outputs: Any, attention_mask: Any, selection: LayerSelection | None, model_name: str) -> Any:
    """Mean-pooled token vectors of a text encoder's output: of `last_hidden_state`, or of the selected layers
    (the model must have run with `output_hidden_states=True`). Padding, as `attention_mask` marks it, is excluded.
    Returns a float tensor of shape (batch, hidden)."""
    if selection is None:
        return masked_mean(outputs.last_hidden_state.float(), attention_mask)
    states = selected_states(getattr(outputs, "hidden_states", None), selection, model_name)
    return masked_mean(states, attention_mask)
