"""Audio backends against transformers called directly: tiny random WavLM models (group-norm and layer-norm) and a
WavLM x-vector model; batch invariance with a longer clip beside; layers taken by hand; files at other rates."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from embedcli.backends.audio import AudioEncoderBackend, XVectorBackend
from embedcli.backends.base import BackendOptions, Device
from embedcli.backends.layers import LayerSelection
from embedcli.backends.media_base import Modality, media_backend_for
from embedcli.backends.models import ModelRef, ModelSource
from embedcli.errors import ModelError
from embedcli.formats.media import decode_audio, decode_batches

RATE = 16_000
NORMS = ["group", "layer"]


def _config(norm: str):  # type: ignore[no-untyped-def]
    from transformers import WavLMConfig

    # transformers' own WavLM test configuration (hidden 16), in its two feature-encoder variants.
    return WavLMConfig(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=20,
        conv_dim=(32, 32, 32),
        conv_stride=(4, 4, 4),
        conv_kernel=(8, 8, 8),
        conv_bias=False,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm=norm,
        do_stable_layer_norm=norm == "layer",
        tdnn_dim=(32, 32),
        tdnn_kernel=(3, 3),
        tdnn_dilation=(1, 1),
        xvector_output_dim=32,
    )


def _save(folder: Path, model: torch.nn.Module) -> Path:
    from transformers import Wav2Vec2FeatureExtractor

    model.save_pretrained(folder)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=RATE, padding_value=0.0, do_normalize=True, return_attention_mask=True
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def wavlm_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from transformers import WavLMModel

    folders = {}
    for seed, norm in enumerate(NORMS):
        torch.manual_seed(seed)
        folders[norm] = _save(tmp_path_factory.mktemp(f"wavlm-{norm}"), WavLMModel(_config(norm)))
    return folders


@pytest.fixture(scope="module")
def xvector_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from transformers import WavLMForXVector

    folders = {}
    for seed, norm in enumerate(NORMS):
        torch.manual_seed(10 + seed)
        folders[norm] = _save(tmp_path_factory.mktemp(f"xvector-{norm}"), WavLMForXVector(_config(norm)))
    return folders


def _ref(path: Path) -> ModelRef:
    return ModelRef(str(path), ModelSource.folder, str(path))


def _options(batch_size: int = 4, **extra: object) -> BackendOptions:
    return BackendOptions(device=Device.cpu, batch_size=batch_size, extra=dict(extra))


def _clips() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [(0.3 * rng.standard_normal(n)).astype(np.float32) for n in (900, 2400, 1300, 900, 1700)]


def _direct(model: torch.nn.Module, clip: np.ndarray, **kwargs: object):  # type: ignore[no-untyped-def]
    """transformers called on one clip alone, normalised as its feature extractor does."""
    from transformers import Wav2Vec2FeatureExtractor

    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=RATE, do_normalize=True)
    values = extractor(clip, sampling_rate=RATE, return_tensors="pt")["input_values"]
    with torch.inference_mode():
        return model(input_values=values, **kwargs)


@pytest.mark.parametrize("norm", NORMS)
def test_mean_pooled_states_equal_transformers_and_do_not_depend_on_the_batch(
    wavlm_folders: dict[str, Path], norm: str
) -> None:
    from transformers import WavLMModel

    backend = AudioEncoderBackend(_ref(wavlm_folders[norm]), _options())
    assert backend.modalities == {Modality.audio}
    assert backend.dimension == 16 and backend.sampling_rate == RATE
    clips = _clips()
    model = WavLMModel.from_pretrained(wavlm_folders[norm]).eval()
    expected = np.stack([_direct(model, clip).last_hidden_state.mean(dim=1)[0].numpy() for clip in clips])
    batched = backend.embed_audio(clips)
    assert batched.dtype == np.float32 and batched.shape == (5, 16)
    np.testing.assert_allclose(batched, expected, atol=1e-5)
    # A short clip alone equals that clip beside a longer one (padding never reaches it).
    alone = backend.embed_audio([clips[0]])
    beside_longer = backend.embed_audio([clips[1], clips[0]])
    np.testing.assert_allclose(beside_longer[1], alone[0], atol=1e-5)
    assert not np.allclose(beside_longer[0], beside_longer[1], atol=1e-3)


def test_padding_would_change_a_group_norm_model(wavlm_folders: dict[str, Path]) -> None:
    """Why group-norm models run in equal-length groups: the padded clip's vector differs from the clip alone."""
    from transformers import WavLMModel

    model = WavLMModel.from_pretrained(wavlm_folders["group"]).eval()
    clip = _clips()[0]
    padded = np.concatenate([clip, np.zeros(1500, dtype=np.float32)])
    alone = _direct(model, clip).last_hidden_state.mean(dim=1)
    frames = alone.shape[0]
    with_padding = _direct(model, padded).last_hidden_state[:, :frames].mean(dim=1)
    assert not torch.allclose(alone, with_padding, atol=1e-3)


@pytest.mark.parametrize("norm", NORMS)
def test_a_layer_equals_the_hidden_state_taken_by_hand(wavlm_folders: dict[str, Path], norm: str) -> None:
    from transformers import WavLMModel

    model = WavLMModel.from_pretrained(wavlm_folders[norm]).eval()
    clips = _clips()
    states = [_direct(model, clip, output_hidden_states=True).hidden_states for clip in clips]
    assert len(states[0]) == 3  # the feature projection, then 2 layers
    one = AudioEncoderBackend(_ref(wavlm_folders[norm]), _options(layers=LayerSelection((1,))))
    np.testing.assert_allclose(
        one.embed_audio(clips), np.stack([s[1].mean(dim=1)[0].numpy() for s in states]), atol=1e-5
    )
    both = AudioEncoderBackend(_ref(wavlm_folders[norm]), _options(layers="0,-1"))
    by_hand = np.stack([((s[0] + s[-1]) / 2).mean(dim=1)[0].numpy() for s in states])
    np.testing.assert_allclose(both.embed_audio(clips), by_hand, atol=1e-5)
    assert both.describe()["layers"] == [0, -1]


@pytest.mark.parametrize("norm", NORMS)
def test_xvectors_equal_transformers_alone_and_in_a_batch(xvector_folders: dict[str, Path], norm: str) -> None:
    from transformers import WavLMForXVector

    backend = XVectorBackend(_ref(xvector_folders[norm]), _options(batch_size=3))
    assert backend.dimension == 32
    model = WavLMForXVector.from_pretrained(xvector_folders[norm]).eval()
    clips = _clips()
    expected = np.stack([_direct(model, clip).embeddings[0].numpy() for clip in clips])
    np.testing.assert_allclose(backend.embed_audio(clips), expected, atol=1e-5)
    np.testing.assert_allclose(backend.embed_audio([clips[2]])[0], expected[2], atol=1e-5)


def test_xvector_refuses_a_layer_and_text(xvector_folders: dict[str, Path]) -> None:
    with pytest.raises(ModelError, match="x-vector head: --layer/--layers do not apply"):
        XVectorBackend(_ref(xvector_folders["group"]), _options(layers=LayerSelection((3,))))
    backend = XVectorBackend(_ref(xvector_folders["group"]), _options())
    with pytest.raises(ModelError, match="embeds audio, not text"):
        backend.embed(["hello"])
    assert media_backend_for(_ref(xvector_folders["group"])) == "xvector"


def test_a_clip_shorter_than_the_receptive_field_is_refused(wavlm_folders: dict[str, Path]) -> None:
    backend = AudioEncoderBackend(_ref(wavlm_folders["layer"]), _options())
    assert backend.min_samples == 8 + 4 * (8 - 1) + 16 * (8 - 1)  # kernels 8, strides 4: one frame
    with pytest.raises(ModelError, match=f"at least {backend.min_samples} samples; clip 1 has 100"):
        backend.embed_audio([_clips()[0], np.zeros(100, dtype=np.float32)])
    assert backend.embed_audio([np.full(backend.min_samples, 0.1, dtype=np.float32)]).shape == (1, 16)
    assert media_backend_for(_ref(wavlm_folders["layer"])) == "audio"


@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS")])
def test_files_at_another_rate_embed_as_their_resampled_samples(
    wavlm_folders: dict[str, Path], tmp_path: Path, fmt: str, subtype: str
) -> None:
    backend = AudioEncoderBackend(_ref(wavlm_folders["group"]), _options())
    rng = np.random.default_rng(9)
    paths = []
    for i, rate in enumerate((8_000, 22_050, 44_100)):
        path = tmp_path / f"clip{i}.{fmt.lower()}"
        soundfile.write(path, (0.2 * rng.standard_normal((rate // 4, 2))).astype(np.float32), rate, subtype=subtype)
        paths.append(path)

    def decode(path: Path) -> np.ndarray:
        return decode_audio(path, sampling_rate=backend.sampling_rate, min_samples=backend.min_samples)

    batches = list(decode_batches(paths, decode, batch_size=2, prepare=backend.prepare_audio))
    got = np.concatenate([backend.embed_prepared(b.prepared) for b in batches])
    clips = [decode(p) for p in paths]
    assert all(abs(len(c) - RATE // 4) <= 2 for c in clips)
    np.testing.assert_allclose(got, backend.embed_audio(clips), atol=1e-6)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros((10, 1), dtype=np.float32), 8_000, format="WAV")
    with pytest.raises(Exception, match=r"tiny\.wav: too short"):
        decode_audio(buffer.getvalue(), sampling_rate=RATE, name="tiny.wav", min_samples=backend.min_samples)
