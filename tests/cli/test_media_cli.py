"""`embedcli embed` and `similar` on images and sounds, as users run them: tiny random CLIP, ResNet, WavLM and WavLM
x-vector folders saved with save_pretrained and loaded by path; vectors checked against transformers / the backend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile
import torch
from conftest import run_cli
from PIL import Image
from typer.testing import CliRunner

from embedcli.backends.base import BackendOptions, Device
from embedcli.backends.models import ModelRef, ModelSource
from embedcli.cli.app import app
from embedcli.formats.media import decode_audio, decode_image
from embedcli.provenance import Provenance

WORDS = ["a", "dog", "cat", "on", "the", "beach", "red", "car", "photo", "of"]
RATE = 16_000


def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


def fails(*args: str, code: int) -> str:
    """stderr of a run that must fail with `code` (errors are worded by the entry point: a real process)."""
    done = run_cli(*args)
    assert done.returncode == code, done.stderr.decode()
    return done.stderr.decode()


def read(path: Path) -> tuple[list[str], np.ndarray, Provenance]:
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(b"embedcli")
    vectors = np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)
    return table.column("id").to_pylist(), vectors, Provenance.from_dict(json.loads(raw) if raw else None)


def ref(path: Path) -> ModelRef:
    return ModelRef(str(path), ModelSource.folder, str(path))


# --- tiny models, as transformers' own tests configure them ------------------------------------------------------


def _clip_tokenizer(folder: Path):  # type: ignore[no-untyped-def]
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    merges = []
    for word in WORDS:  # every word one token
        current = [*word[:-1], word[-1] + "</w>"]
        while len(current) > 1:
            merges.append(f"{current[0]} {current[1]}")
            current = [current[0] + current[1], *current[2:]]
            vocab.setdefault(current[0], len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")), len(vocab)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    folder = tmp_path_factory.mktemp("clip")
    tokenizer, vocab_size = _clip_tokenizer(tmp_path_factory.mktemp("vocab"))
    text = {"vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
            "num_attention_heads": 4, "max_position_embeddings": 16, "bos_token_id": 0, "eos_token_id": 1,
            "pad_token_id": 1}  # fmt: skip
    vision = {"image_size": 30, "patch_size": 2, "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
              "num_attention_heads": 4}  # fmt: skip
    torch.manual_seed(0)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(folder)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def resnet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetModel

    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("resnet")
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 12, 16, 24], depths=[1, 1, 1, 1], layer_type="basic")
    ResNetModel(config).save_pretrained(folder)
    ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875).save_pretrained(folder)
    return folder


def _wavlm(folder: Path, xvector: bool) -> Path:
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForXVector, WavLMModel

    config = WavLMConfig(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=20, conv_dim=(32, 32, 32),
        conv_stride=(4, 4, 4), conv_kernel=(8, 8, 8), conv_bias=False, num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True, tdnn_dim=(32, 32),
        tdnn_kernel=(3, 3), tdnn_dilation=(1, 1), xvector_output_dim=32,
    )  # fmt: skip
    torch.manual_seed(3)
    (WavLMForXVector if xvector else WavLMModel)(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=RATE, padding_value=0.0, do_normalize=True, return_attention_mask=True
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def wavlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _wavlm(tmp_path_factory.mktemp("wavlm"), xvector=False)


@pytest.fixture(scope="module")
def xvector_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _wavlm(tmp_path_factory.mktemp("xvector"), xvector=True)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """photos/: five images (one in a subfolder, one a JPEG), plus a text file that is not an image."""
    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    names = ["a.png", "b.png", "sub/c.png", "d.jpg", "e.png"]
    for name, (w, h) in zip(names, [(40, 30), (30, 30), (64, 48), (33, 50), (45, 45)], strict=True):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / name)
    (root / "notes.txt").write_text("not an image\n")
    return root


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """clips/: four sounds of different lengths, one FLAC at 22.05 kHz (resampled on reading)."""
    rng = np.random.default_rng(5)
    root = tmp_path_factory.mktemp("clips")
    for i, n in enumerate([900, 2400, 1300, 1700]):
        rate = 22_050 if i == 1 else RATE
        suffix = "flac" if i == 1 else "wav"
        soundfile.write(root / f"s{i}.{suffix}", (0.3 * rng.standard_normal(n)).astype(np.float32), rate)
    return root


IMAGE_IDS = ["a.png", "b.png", "d.jpg", "e.png", "sub/c.png"]


# --- images -------------------------------------------------------------------------------------------------------


def test_a_clip_folder_embeds_every_image_with_relative_ids_as_the_backend_does(
    clip_dir: Path, photos: Path, tmp_path: Path
) -> None:
    from embedcli.backends.images import ClipBackend

    out = tmp_path / "photos.parquet"
    result = invoke("embed", str(photos), "--model", str(clip_dir), "-o", str(out))
    ids, vectors, provenance = read(out)
    assert ids == IMAGE_IDS
    assert (provenance.backend, provenance.modality, provenance.model) == ("clip", "image", str(clip_dir))
    assert "1 other file" in result.stderr
    backend = ClipBackend(ref(clip_dir), BackendOptions(device=Device.cpu))
    direct = backend.embed_images([decode_image(photos / i) for i in ids])
    np.testing.assert_allclose(vectors, direct, atol=1e-5)


def test_files_from_stdin_keep_the_paths_as_written(clip_dir: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "shots.parquet"
    listing = f"{photos / 'b.png'}\n\n{photos / 'sub' / 'c.png'}\n"
    invoke("embed", "--files", "-", "--model", str(clip_dir), "-o", str(out), input=listing)
    ids, _, _ = read(out)
    assert ids == [str(photos / "b.png"), str(photos / "sub" / "c.png")]


@pytest.mark.slow  # two real processes joined by a pipe (~40 s with torch's import on 2 cores)
def test_text_finds_the_image_transformers_ranks_first_through_a_pipe(clip_dir: Path, photos: Path) -> None:
    from transformers import CLIPModel, CLIPProcessor

    embedded = run_cli("embed", str(photos), "--model", str(clip_dir), "--format", "arrows", "-q", check=True)
    query = "a dog on the beach"
    found = run_cli("similar", "-", query, "-k", "1", "--format", "jsonl", input=embedded.stdout, check=True)
    hit = json.loads(found.stdout.splitlines()[0])

    model, processor = CLIPModel.from_pretrained(clip_dir).eval(), CLIPProcessor.from_pretrained(clip_dir)
    with torch.inference_mode():
        text = model.get_text_features(**processor(text=[query], return_tensors="pt", padding=True))
        pixels = processor(images=[decode_image(photos / i) for i in IMAGE_IDS], return_tensors="pt")
        images = model.get_image_features(**pixels)
    text = getattr(text, "pooler_output", text).numpy()
    images = getattr(images, "pooler_output", images).numpy()
    cosine = (images @ text[0]) / np.linalg.norm(images, axis=1) / np.linalg.norm(text[0])
    assert hit["id"] == IMAGE_IDS[int(np.argmax(cosine))]
    assert hit["score"] == pytest.approx(float(cosine.max()), abs=1e-4)


def test_an_image_query_finds_itself(clip_dir: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "photos.parquet"
    invoke("embed", str(photos), "--model", str(clip_dir), "-o", str(out), "-q")
    found = invoke("similar", str(out), "--queries", str(photos / "d.jpg"), "-k", "2", "--format", "jsonl")
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert hits[0]["id"] == "d.jpg" and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)


@pytest.fixture
def mixed(photos: Path, tmp_path: Path) -> Path:
    """Two good images and a PNG cut after its header."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes((photos / name).read_bytes())
    (folder / "broken.png").write_bytes((photos / "e.png").read_bytes()[:60])
    return folder


@pytest.mark.slow  # a real process, to see the one line the entry point words (~20 s with torch's import)
def test_a_corrupt_image_stops_the_run_with_one_line_naming_it(resnet_dir: Path, mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "cnn.parquet"
    stopped = fails("embed", str(mixed), "--model", str(resnet_dir), "-o", str(out), "-q", code=1)
    lines = stopped.strip().splitlines()
    assert len(lines) == 1 and str(mixed / "broken.png") in lines[0] and "truncated" in lines[0], stopped
    assert not out.exists()


def test_a_corrupt_image_is_skipped_counted_and_listed(resnet_dir: Path, mixed: Path, tmp_path: Path) -> None:
    out, rejects = tmp_path / "cnn.parquet", tmp_path / "rejects.tsv"
    args = ["--on-error", "skip", "--rejects", str(rejects)]
    skipped = invoke("embed", str(mixed), "--model", str(resnet_dir), "-o", str(out), *args)
    assert "1 bad file skipped" in skipped.stderr
    assert read(out)[0] == ["a.png", "b.png"]
    listed = rejects.read_text().splitlines()
    assert len(listed) == 1 and listed[0].startswith(f"{mixed / 'broken.png'}\t")


def test_a_resnet_layer_equals_the_hidden_state_pooled_by_hand(resnet_dir: Path, photos: Path, tmp_path: Path) -> None:
    from transformers import AutoImageProcessor, ResNetModel

    out = tmp_path / "stage3.parquet"
    invoke("embed", str(photos), "--model", str(resnet_dir), "--layer", "-2", "-o", str(out), "-q")
    ids, vectors, provenance = read(out)
    assert provenance.layers == [-2] and provenance.backend == "image"
    model, processor = ResNetModel.from_pretrained(resnet_dir).eval(), AutoImageProcessor.from_pretrained(resnet_dir)
    with torch.inference_mode():
        pixels = processor(images=[decode_image(photos / i) for i in ids], return_tensors="pt")["pixel_values"]
        states = model(pixel_values=pixels, output_hidden_states=True).hidden_states
    np.testing.assert_allclose(vectors, states[-2].mean(dim=(2, 3)).numpy(), atol=1e-5)


def test_a_text_query_against_a_resnet_corpus_is_refused_in_one_line(
    resnet_dir: Path, photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cnn.parquet"
    invoke("embed", str(photos), "--model", str(resnet_dir), "-o", str(out), "-q")
    refused = fails("similar", str(out), "a dog on the beach", code=2)
    assert "no text side" in refused.strip().splitlines()[0], refused


def test_a_folder_without_media_is_read_as_documents_unless_images_are_asked_for(
    clip_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("hello\n")
    out = tmp_path / "x.parquet"
    run_cli("embed", str(tmp_path / "docs"), "--model", str(clip_dir), "-q", "-o", str(out), check=True)
    assert read(out)[0] == ["a.txt"]  # one text per file: CLIP's text tower
    args = ["--model", str(clip_dir), "--modality", "image", "-o", str(tmp_path / "y.parquet")]
    refused = fails("embed", str(tmp_path / "docs"), *args, code=1)
    assert "no image or audio files" in refused and "one vector per file" in refused


def test_a_parquet_column_of_image_bytes_embeds_as_the_files_do(clip_dir: Path, photos: Path, tmp_path: Path) -> None:
    import pyarrow as pa

    table = pa.table({"sku": ["x1", "x2"], "jpeg": [(photos / n).read_bytes() for n in ("d.jpg", "a.png")]})
    pq.write_table(table, tmp_path / "table.parquet")
    from_column, from_files = tmp_path / "column.parquet", tmp_path / "files.parquet"
    args = ["--model", str(clip_dir), "-q"]
    invoke("embed", str(tmp_path / "table.parquet"), "--image-column", "jpeg", "--id-column", "sku", *args,
           "-o", str(from_column))  # fmt: skip
    invoke("embed", str(photos / "d.jpg"), str(photos / "a.png"), *args, "-o", str(from_files))
    ids, vectors, _ = read(from_column)
    assert ids == ["x1", "x2"]
    np.testing.assert_allclose(vectors, read(from_files)[1], atol=1e-6)


# --- sounds -------------------------------------------------------------------------------------------------------


def test_speaker_vectors_equal_the_backend_and_an_audio_query_finds_its_clip(
    xvector_dir: Path, clips: Path, tmp_path: Path
) -> None:
    from embedcli.backends.audio import XVectorBackend

    out = tmp_path / "speakers.parquet"
    invoke("embed", str(clips), "--model", str(xvector_dir), "-o", str(out), "-q")
    ids, vectors, provenance = read(out)
    assert ids == ["s0.wav", "s1.flac", "s2.wav", "s3.wav"]
    assert (provenance.backend, provenance.modality) == ("xvector", "audio")
    backend = XVectorBackend(ref(xvector_dir), BackendOptions(device=Device.cpu, batch_size=1))
    direct = backend.embed_audio([decode_audio(clips / i, sampling_rate=RATE) for i in ids])
    np.testing.assert_allclose(vectors, direct, atol=1e-5)

    found = invoke("similar", str(out), "--queries", str(clips / "s1.flac"), "-k", "3", "--format", "jsonl")
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert len(hits) == 3 and hits[0]["id"] == "s1.flac" and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)


def test_an_audio_layer_equals_the_masked_mean_of_that_hidden_state(
    wavlm_dir: Path, clips: Path, tmp_path: Path
) -> None:
    from transformers import Wav2Vec2FeatureExtractor, WavLMModel

    out = tmp_path / "speech.parquet"
    wavs = sorted(str(p) for p in clips.glob("*.wav"))
    invoke("embed", *wavs, "--model", str(wavlm_dir), "--layer", "1", "-o", str(out), "-q")
    ids, vectors, provenance = read(out)
    assert ids == wavs and provenance.layers == [1] and provenance.backend == "audio"
    model = WavLMModel.from_pretrained(wavlm_dir).eval()
    extractor = Wav2Vec2FeatureExtractor.from_pretrained(wavlm_dir)
    for path, vector in zip(wavs, vectors, strict=True):
        values = extractor(decode_audio(path, sampling_rate=RATE), sampling_rate=RATE, return_tensors="pt")
        with torch.inference_mode():
            state = model(input_values=values["input_values"], output_hidden_states=True).hidden_states[1]
        np.testing.assert_allclose(vector, state[0].mean(dim=0).numpy(), atol=1e-5)


def test_max_seconds_skips_a_long_clip(xvector_dir: Path, clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "short.parquet"
    args = ["--max-seconds", "0.1", "--on-error", "skip", "--rejects", str(tmp_path / "rejects.tsv")]
    invoke("embed", str(clips), "--model", str(xvector_dir), *args, "-o", str(out), "-q")
    assert read(out)[0] == ["s0.wav", "s2.wav"]  # s1: 2400 samples at 22.05 kHz (0.109 s), s3: 1700 at 16 kHz
    rejected = (tmp_path / "rejects.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in rejected] == [str(clips / "s1.flac"), str(clips / "s3.wav")]
    assert all("too long" in line for line in rejected)


# --- text layers --------------------------------------------------------------------------------------------------


def test_text_layers_are_the_masked_mean_of_the_averaged_hidden_states(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    texts = ["a short one", "a somewhat longer sentence than the first"]
    (tmp_path / "docs.txt").write_text("\n".join(texts) + "\n")
    out = tmp_path / "v.parquet"
    invoke("embed", str(tmp_path / "docs.txt"), "--backend", "transformers", "--model", str(tiny_bert_dir),
           "--layers", "1,-1", "-o", str(out), "-q")  # fmt: skip
    _, vectors, provenance = read(out)
    assert provenance.layers == [1, -1] and provenance.modality == "text"
    model, tokenizer = AutoModel.from_pretrained(tiny_bert_dir).eval(), AutoTokenizer.from_pretrained(tiny_bert_dir)
    for text, vector in zip(texts, vectors, strict=True):
        with torch.inference_mode():
            states = model(**tokenizer([text], return_tensors="pt"), output_hidden_states=True).hidden_states
        np.testing.assert_allclose(vector, ((states[1] + states[-1]) / 2)[0].mean(dim=0).numpy(), atol=1e-5)
