"""Image backends against transformers called directly: a tiny random CLIP (text and images), ResNet, ViT, DINOv2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from embedcli.backends.base import BackendOptions, Device
from embedcli.backends.images import ClipBackend, ImageEncoderBackend
from embedcli.backends.layers import LayerSelection
from embedcli.backends.media_base import Modality, media_backend_for
from embedcli.backends.models import ModelRef, ModelSource
from embedcli.errors import ModelError
from embedcli.formats.media import decode_batches, decode_image

WORDS = ["a", "dog", "cat", "on", "the", "beach", "red", "car", "photo", "of"]


def _ref(path: Path) -> ModelRef:
    return ModelRef(str(path), ModelSource.folder, str(path))


def _options(**extra: object) -> BackendOptions:
    return BackendOptions(device=Device.cpu, batch_size=3, extra=dict(extra))


def _clip_tokenizer(folder: Path):  # type: ignore[no-untyped-def]
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    merges = []
    for word in WORDS:  # merge each word letter by letter, so every word is one token
        current = [*word[:-1], word[-1] + "</w>"]
        while len(current) > 1:
            merges.append(f"{current[0]} {current[1]}")
            current = [current[0] + current[1], *current[2:]]
            vocab.setdefault(current[0], len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")), len(vocab)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    folder = tmp_path_factory.mktemp("clip")
    tokenizer, vocab_size = _clip_tokenizer(tmp_path_factory.mktemp("vocab"))
    config = CLIPConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 16,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={
            "image_size": 30,
            "patch_size": 2,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        },
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30}),
        tokenizer=tokenizer,
    )
    processor.save_pretrained(folder)
    return folder


def _vision_folder(root: Path, model: torch.nn.Module) -> Path:
    from transformers import ConvNextImageProcessor

    model.save_pretrained(root)
    ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875).save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def resnet_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(1)
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 12, 16, 24], depths=[1, 1, 1, 1], layer_type="basic")
    return _vision_folder(tmp_path_factory.mktemp("resnet"), ResNetModel(config))


@pytest.fixture(scope="module")
def vit_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(2)
    config = ViTConfig(
        image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24
    )
    # Saved without a pooler, like DINO and MAE checkpoints: AutoModel would add a random one.
    return _vision_folder(tmp_path_factory.mktemp("vit"), ViTModel(config, add_pooling_layer=False))


@pytest.fixture(scope="module")
def dinov2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(3)
    config = Dinov2Config(
        image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, mlp_ratio=2
    )
    return _vision_folder(tmp_path_factory.mktemp("dinov2"), Dinov2Model(config))


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("pictures")
    paths = []
    for i, size in enumerate([(40, 30), (30, 30), (64, 48), (33, 50), (45, 45)]):
        path = folder / f"p{i}.png"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _decoded(paths: list[Path]) -> list[Image.Image]:
    return [Image.open(p).convert("RGB") for p in paths]


def test_clip_images_and_texts_equal_transformers_called_directly(clip_folder: Path, pictures: list[Path]) -> None:
    from transformers import CLIPModel, CLIPProcessor

    backend = ClipBackend(_ref(clip_folder), _options())
    assert backend.modalities == {Modality.text, Modality.image}
    assert backend.dimension == 16
    model = CLIPModel.from_pretrained(clip_folder).eval()
    processor = CLIPProcessor.from_pretrained(clip_folder)
    images = _decoded(pictures)
    texts = ["a dog on the beach", "a red car", "photo of a cat", "dog"]
    with torch.inference_mode():
        image_out = model.get_image_features(**processor(images=images, return_tensors="pt"))
        text_out = model.get_text_features(**processor(text=texts, return_tensors="pt", padding=True))
    expected_images = getattr(image_out, "pooler_output", image_out).numpy()
    expected_texts = getattr(text_out, "pooler_output", text_out).numpy()

    batches = decode_batches(pictures, decode_image, batch_size=2, prepare=backend.prepare_images)
    got_images = np.concatenate([backend.embed_prepared(b.prepared) for b in batches])
    got_texts = backend.embed(texts)
    assert got_images.dtype == np.float32 and got_images.shape == (5, 16)
    np.testing.assert_allclose(got_images, expected_images, atol=1e-5)
    np.testing.assert_allclose(got_texts, expected_texts, atol=1e-5)

    # text -> image: the picture transformers ranks first for each text is the one embedcli ranks first.
    def ranked(texts_: np.ndarray, images_: np.ndarray) -> np.ndarray:
        t = texts_ / np.linalg.norm(texts_, axis=1, keepdims=True)
        i = images_ / np.linalg.norm(images_, axis=1, keepdims=True)
        return np.argsort(-(t @ i.T), axis=1, kind="stable")

    np.testing.assert_array_equal(ranked(got_texts, got_images)[:, 0], ranked(expected_texts, expected_images)[:, 0])


def test_clip_counts_texts_cut_at_its_position_limit(clip_folder: Path) -> None:
    backend = ClipBackend(_ref(clip_folder), _options())
    assert backend.max_length == 16
    long_text = " ".join(["dog"] * 40)
    vectors = backend.embed([long_text, "dog"])
    assert backend.truncated == 1
    assert np.isfinite(vectors).all()


def test_clip_refuses_a_layer_and_audio(clip_folder: Path) -> None:
    with pytest.raises(ModelError, match="one space only at its output"):
        ClipBackend(_ref(clip_folder), _options(layers=LayerSelection((-2,))))
    backend = ClipBackend(_ref(clip_folder), _options())
    with pytest.raises(ModelError, match="embeds image and text, not audio"):
        backend.embed_audio([np.zeros(100, dtype=np.float32)])
    with pytest.raises(ModelError, match="embeds image and text, not audio"):
        backend.embed_audio([])
    assert backend.embed([]).shape == (0, 16) and backend.embed_images([]).shape == (0, 16)


def test_resnet_pooled_output_equals_transformers(resnet_folder: Path, pictures: list[Path]) -> None:
    from transformers import AutoImageProcessor, ResNetModel

    backend = ImageEncoderBackend(_ref(resnet_folder), _options())
    assert backend.dimension == 24
    with pytest.raises(ModelError, match="embeds image, not text"):
        backend.embed(["a dog"])
    model = ResNetModel.from_pretrained(resnet_folder).eval()
    pixels = AutoImageProcessor.from_pretrained(resnet_folder)(images=_decoded(pictures), return_tensors="pt")
    with torch.inference_mode():
        expected = model(**pixels).pooler_output.flatten(1).numpy()
    got = backend.embed_images([decode_image(p) for p in pictures])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # one picture alone gives its row of the batch
    np.testing.assert_allclose(backend.embed_images([decode_image(pictures[3])])[0], got[3], atol=1e-5)
    assert backend.describe()["pooling"] == "pooler"


@pytest.mark.parametrize(("layers", "width"), [((-2,), 16), ((1,), 8), ((2, 3), None)])
def test_resnet_layer_equals_the_stage_taken_by_hand(
    resnet_folder: Path, pictures: list[Path], layers: tuple[int, ...], width: int | None
) -> None:
    from transformers import AutoImageProcessor, ResNetModel

    if width is None:  # stages 2 and 3 differ in width: averaging them is refused
        with pytest.raises(ModelError, match="different shapes"):
            ImageEncoderBackend(_ref(resnet_folder), _options(layers=LayerSelection(layers))).dimension  # noqa: B018
        return
    backend = ImageEncoderBackend(_ref(resnet_folder), _options(layers=LayerSelection(layers)))
    assert backend.dimension == width
    model = ResNetModel.from_pretrained(resnet_folder).eval()
    pixels = AutoImageProcessor.from_pretrained(resnet_folder)(images=_decoded(pictures), return_tensors="pt")
    with torch.inference_mode():
        states = model(**pixels, output_hidden_states=True).hidden_states
    assert len(states) == 5  # the stem, then 4 stages
    expected = states[layers[0]].mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(backend.embed_images(_decoded(pictures)), expected, atol=1e-5)
    assert backend.describe()["layers"] == list(layers)


def test_vit_without_a_saved_pooler_gives_its_cls_token(vit_folder: Path, pictures: list[Path]) -> None:
    from transformers import AutoImageProcessor, ViTModel

    backend = ImageEncoderBackend(_ref(vit_folder), _options())
    assert backend.describe()["pooling"] == "cls"
    model = ViTModel.from_pretrained(vit_folder, add_pooling_layer=False).eval()
    pixels = AutoImageProcessor.from_pretrained(vit_folder)(images=_decoded(pictures), return_tensors="pt")
    with torch.inference_mode():
        expected = model(**pixels).last_hidden_state[:, 0].numpy()
    np.testing.assert_allclose(backend.embed_images(_decoded(pictures)), expected, atol=1e-5)


def test_dinov2_pooled_and_averaged_layers_equal_transformers(dinov2_folder: Path, pictures: list[Path]) -> None:
    from transformers import AutoImageProcessor, Dinov2Model

    model = Dinov2Model.from_pretrained(dinov2_folder).eval()
    pixels = AutoImageProcessor.from_pretrained(dinov2_folder)(images=_decoded(pictures), return_tensors="pt")
    with torch.inference_mode():
        out = model(**pixels, output_hidden_states=True)
    assert len(out.hidden_states) == 4
    pooled = ImageEncoderBackend(_ref(dinov2_folder), _options()).embed_images(_decoded(pictures))
    np.testing.assert_allclose(pooled, out.pooler_output.numpy(), atol=1e-5)
    layered = ImageEncoderBackend(_ref(dinov2_folder), _options(layers="1:2")).embed_images(_decoded(pictures))
    by_hand = ((out.hidden_states[1] + out.hidden_states[2]) / 2)[:, 0].numpy()
    np.testing.assert_allclose(layered, by_hand, atol=1e-5)
    with pytest.raises(ModelError, match="has no layer 7: it has 4 hidden states"):
        ImageEncoderBackend(_ref(dinov2_folder), _options(layers=7)).embed_images(_decoded(pictures[:1]))


def test_media_backend_for_reads_the_config(
    clip_folder: Path, resnet_folder: Path, vit_folder: Path, tmp_path: Path
) -> None:
    assert media_backend_for(_ref(clip_folder)) == "clip"
    assert media_backend_for(_ref(resnet_folder)) == "image"
    assert media_backend_for(_ref(vit_folder)) == "image"
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert media_backend_for(_ref(tmp_path)) is None
    assert media_backend_for(_ref(tmp_path / "nowhere")) is None


def test_clip_cuts_a_very_long_text_before_tokenizing_as_every_text_backend_does(clip_folder: Path) -> None:
    from embedcli.backends import base

    backend = ClipBackend(_ref(clip_folder), _options())
    words = " ".join(WORDS * 3)
    long_text = " ".join([words] * 5_000)  # far past max_length x CHARS_PER_TOKEN_CEILING characters
    seen: list[int] = []
    tokenizer = backend._tokenizer

    def recording(texts: Any, *args: Any, **kwargs: Any) -> Any:
        seen.extend(len(t) for t in ([texts] if isinstance(texts, str) else texts))
        return tokenizer(texts, *args, **kwargs)

    backend._tokenizer = recording
    got = backend.embed([long_text, "a dog"])
    assert backend.truncated == 1
    assert max(seen) < len(long_text) // 10  # the whole text never reached the tokenizer
    assert backend._limit is not None and max(seen) <= backend._limit * base.CHARS_PER_TOKEN_CAP
    np.testing.assert_allclose(got[0], backend.embed([" ".join([words] * 20)])[0], atol=1e-5)
