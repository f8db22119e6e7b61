"""--layer / --layers: parsing, resolving against a model's N+1 hidden states, and the pooled text states of a tiny
BERT against the hidden states taken by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedcli.backends.layers import (
    LayerSelection,
    layer_options,
    masked_mean,
    parse_layers,
    pool_text_layers,
    selected_states,
)
from embedcli.errors import ModelError, UsageError


@pytest.mark.parametrize(
    ("text", "layers"),
    [
        (6, (6,)),
        ("-1", (-1,)),
        ("1,-1", (1, -1)),
        (" 4:7 ", (4, 5, 6, 7)),
        ("-3:-1", (-3, -2, -1)),
        ("0", (0,)),
    ],
)
def test_parse_layers(text: str | int, layers: tuple[int, ...]) -> None:
    assert parse_layers(text) == LayerSelection(layers)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("two", "expected a layer number"),
        ("1,,2", "expected a layer number"),
        ("-2:3", "same side"),
        ("5:2", "range is empty"),
        ("", "expected a layer number"),
    ],
)
def test_parse_layers_refuses(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_layers(text)


def test_resolve_counts_negative_layers_from_the_end_and_names_the_range() -> None:
    assert LayerSelection((0, -1, -13, 12)).resolve(13, "m") == [0, 12, 0, 12]
    with pytest.raises(ModelError, match=r"model 'm' has no layer 13: it has 13 hidden states, 0 .* to 12"):
        LayerSelection((13,)).resolve(13, "m")
    with pytest.raises(ModelError, match="has no layer -14"):
        LayerSelection((-14,)).resolve(13, "m")


def test_layer_options_accepts_what_the_cli_may_pass() -> None:
    assert layer_options({}) is None
    assert layer_options({"layers": 3}) == LayerSelection((3,))
    assert layer_options({"layers": "1:2"}) == LayerSelection((1, 2))
    assert layer_options({"layers": [0, -1]}) == LayerSelection((0, -1))
    selection = LayerSelection((2,))
    assert layer_options({"layers": selection}) is selection


def test_a_model_without_hidden_states_gets_one_clear_error() -> None:
    with pytest.raises(ModelError, match="does not return its hidden states, so --layer/--layers cannot be used"):
        selected_states(None, LayerSelection((1,)), "m")


def test_masked_mean_ignores_padded_steps() -> None:
    states = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    expected = np.stack([states[0, :2].mean(0).numpy(), states[1, 0].numpy()])
    np.testing.assert_allclose(masked_mean(states, mask).numpy(), expected)
    np.testing.assert_allclose(masked_mean(states, None).numpy(), states.mean(1).numpy())


@pytest.fixture(scope="module")
def bert() -> torch.nn.Module:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=24)
    return BertModel(config).eval()


def test_pool_text_layers_equals_the_hidden_states_taken_by_hand(bert: torch.nn.Module) -> None:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 50, (3, 7), generator=generator)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5])
    with torch.inference_mode():
        outputs = bert(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        assert len(outputs.hidden_states) == 4  # embeddings + 3 layers
        for selection, chosen in [((2,), [2]), ((-1,), [3]), ((1, -1), [1, 3]), ((0,), [0])]:
            got = pool_text_layers(outputs, mask, LayerSelection(selection), "bert").numpy()
            for row in range(3):
                n = int(mask[row].sum())
                by_hand = np.mean([outputs.hidden_states[k][row, :n].mean(0).numpy() for k in chosen], axis=0)
                np.testing.assert_allclose(got[row], by_hand, atol=1e-6)
        last = pool_text_layers(outputs, mask, None, "bert").numpy()
        np.testing.assert_allclose(last[1], outputs.last_hidden_state[1, :4].mean(0).numpy(), atol=1e-6)
        # a padded row's vector equals the same text run alone
        alone = bert(input_ids=ids[1:2, :4], output_hidden_states=True)
        np.testing.assert_allclose(
            pool_text_layers(alone, torch.ones(1, 4), LayerSelection((2,)), "bert").numpy()[0],
            pool_text_layers(outputs, mask, LayerSelection((2,)), "bert").numpy()[1],
            atol=1e-5,
        )
