"""Images and sounds: images/s and clips/s of embedcli's decode + embed pipeline against the same model called
directly on inputs decoded beforehand, side by side in one run.

Models: random weights, small but not trivial, built from configs (no downloads):
  image  a CLIP (ViT, 224 px, patch 32, hidden 256, 4 layers); inputs: 640x480 JPEG files
  audio  a WavLM with a layer-normalised feature encoder (hidden 256, 4 layers, wav2vec2's 7 convolutions at 128
         channels); inputs: FLAC files of 2-6 s at 44.1 kHz, so embedcli also resamples to 16 kHz
Sides:
  embedcli  formats.media.decode_batches (files decoded, resampled and prepared on 2 threads) feeding the backend
  min_side  the same, images decoded with decode_image(min_side=224) (JPEG DCT scaling; vectors differ slightly,
            their cosine to the full-size ones is printed)
  embed_job the whole `embedcli embed FILES -o x.parquet` in-process (EmbedJob): sniffing, model loading, decoding,
            Parquet writing included
  direct    transformers on the already-decoded images / 16 kHz arrays: the processor (or feature extractor with
            padding and attention mask) and the model, per batch, then the masked mean for audio
Both sides use the same batch size and torch's default threads. Target: embedcli >= 0.9x direct, decoding
included on embedcli's side only. The machine may be shared: figures are noisy; rounds alternate the sides.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SEED = 1234
RATE = 16_000


def _picture(rng: np.random.Generator, width: int = 640, height: int = 480) -> np.ndarray:
    """A photo-like picture: smooth gradients plus some noise (pure noise JPEGs decode unusually slowly)."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    noisy = base + rng.normal(0, 12, base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _clip_model(folder: Path) -> None:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, **{c + "</w>": i + 2 for i, c in enumerate("abcdefgh")}}
    (folder / "vocab.json").write_text(__import__("json").dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    config = CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "intermediate_size": 128, "max_position_embeddings": 16, "bos_token_id": 0, "eos_token_id": 1,
                     "pad_token_id": 1},
        vision_config={"image_size": 224, "patch_size": 32, "hidden_size": 256, "num_hidden_layers": 4,
                       "num_attention_heads": 4, "intermediate_size": 1024},
        projection_dim=128,
    )  # fmt: skip
    torch.manual_seed(SEED)
    CLIPModel(config).save_pretrained(folder)
    CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer).save_pretrained(folder)


def _wavlm_model(folder: Path) -> None:
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMModel

    config = WavLMConfig(
        hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
        conv_dim=(128,) * 7, feat_extract_norm="layer", do_stable_layer_norm=True,
        num_conv_pos_embeddings=64, num_conv_pos_embedding_groups=8,
    )  # fmt: skip
    torch.manual_seed(SEED)
    WavLMModel(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=RATE, do_normalize=True, return_attention_mask=True
    ).save_pretrained(folder)


def _timed_rounds(sides: dict[str, Callable[[], np.ndarray]], rounds: int) -> tuple[dict[str, float], dict]:
    answers = {name: run() for name, run in sides.items()}  # warm-up, and the answers to compare
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}, answers


def _images(root: Path, count: int, batch: int, rounds: int, workers: int) -> dict[str, float]:
    import torch
    from PIL import Image

    from embedcli.backends.base import BackendOptions, Device
    from embedcli.backends.images import ClipBackend
    from embedcli.backends.models import ModelRef, ModelSource
    from embedcli.formats.media import decode_batches, decode_image

    folder = root / "clip"
    folder.mkdir()
    _clip_model(folder)
    rng = np.random.default_rng(SEED)
    paths = []
    for i in range(count):
        path = root / f"img{i:04d}.jpg"
        Image.fromarray(_picture(rng)).save(path, quality=90)
        paths.append(path)
    backend = ClipBackend(ModelRef("clip", ModelSource.folder, str(folder)), BackendOptions(Device.cpu, batch))

    def embedcli() -> np.ndarray:
        batches = decode_batches(paths, decode_image, batch_size=batch, workers=workers, prepare=backend.prepare_images)
        return np.concatenate([backend.embed_prepared(b.prepared) for b in batches])

    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(folder).eval()
    processor = CLIPProcessor.from_pretrained(folder)
    decoded = [Image.open(p).convert("RGB") for p in paths]
    for image in decoded:
        image.load()

    def direct() -> np.ndarray:
        out = []
        for start in range(0, count, batch):
            pixels = processor(images=decoded[start : start + batch], return_tensors="pt")
            with torch.inference_mode():
                features = model.get_image_features(**pixels)
            out.append(getattr(features, "pooler_output", features).numpy())
        return np.concatenate(out)

    def shrunk() -> np.ndarray:
        def decode(path: Path) -> Image.Image:
            return decode_image(path, min_side=224)  # the processor's shortest edge

        batches = decode_batches(
            paths, decode, batch_size=batch, workers=workers, prepare=backend.prepare_images, keep_items=False
        )
        return np.concatenate([backend.embed_prepared(b.prepared) for b in batches])

    sides = {"embedcli": embedcli, "direct": direct, "min_side": shrunk, "embed_job": _embed_job(paths, folder, batch)}
    seconds, answers = _timed_rounds(sides, rounds)
    np.testing.assert_allclose(answers["embedcli"], answers["direct"], atol=1e-4)
    cosine = np.sum(_unit(answers["min_side"]) * _unit(answers["direct"]), axis=1)
    print(f"min_side=224 vectors against full-size decoding: cosine min {cosine.min():.4f}, mean {cosine.mean():.4f}")
    return {name: count / s for name, s in seconds.items()}


def _embed_job(paths: list[Path], model: Path, batch: int) -> Callable[[], np.ndarray]:
    """`embedcli embed FILES --model DIR -o out.parquet` in-process (EmbedJob, as the command calls it): sniffing,
    model loading, decoding and writing Parquet included."""
    import pyarrow.parquet as pq

    from embedcli.backends.base import BackendOptions, Device
    from embedcli.embed.pipeline import EmbedSettings
    from embedcli.embed.run import EmbedJob, EmbedRequest
    from embedcli.formats import OutputFormat

    target = model.parent / "embed_job.parquet"

    def run() -> np.ndarray:
        request = EmbedRequest(
            inputs=[str(p) for p in paths], target=str(target), output_format=OutputFormat.parquet, model=str(model),
            backend_options=BackendOptions(Device.cpu, batch), settings=EmbedSettings(batch_size=batch),
        )  # fmt: skip
        EmbedJob(request).run()
        return np.asarray(pq.read_table(target).column("embedding").to_pylist(), dtype=np.float32)

    return run


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _audio(root: Path, count: int, batch: int, rounds: int, workers: int) -> dict[str, float]:
    import soundfile
    import torch

    from embedcli.backends.audio import AudioEncoderBackend
    from embedcli.backends.base import BackendOptions, Device
    from embedcli.backends.models import ModelRef, ModelSource
    from embedcli.formats.media import decode_audio, decode_batches

    folder = root / "wavlm"
    folder.mkdir()
    _wavlm_model(folder)
    rng = np.random.default_rng(SEED)
    paths = []
    for i in range(count):
        path = root / f"clip{i:04d}.flac"
        seconds = rng.uniform(2.0, 6.0)
        t = np.arange(int(44_100 * seconds)) / 44_100
        wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.05 * rng.standard_normal(len(t))
        soundfile.write(path, wave.astype(np.float32), 44_100)
        paths.append(path)
    backend = AudioEncoderBackend(ModelRef("wavlm", ModelSource.folder, str(folder)), BackendOptions(Device.cpu, batch))

    def decode(path: Path) -> np.ndarray:
        return decode_audio(path, sampling_rate=RATE, min_samples=backend.min_samples)

    def embedcli() -> np.ndarray:
        batches = decode_batches(paths, decode, batch_size=batch, workers=workers, prepare=backend.prepare_audio)
        return np.concatenate([backend.embed_prepared(b.prepared) for b in batches])

    from transformers import Wav2Vec2FeatureExtractor, WavLMModel

    model = WavLMModel.from_pretrained(folder).eval()
    extractor = Wav2Vec2FeatureExtractor.from_pretrained(folder)
    decoded = [decode(p) for p in paths]

    def direct() -> np.ndarray:
        out = []
        for start in range(0, count, batch):
            inputs: Any = extractor(
                decoded[start : start + batch], sampling_rate=RATE, padding=True, return_tensors="pt",
                return_attention_mask=True,
            )  # fmt: skip
            with torch.inference_mode():
                states = model(**inputs).last_hidden_state
                mask = model._get_feature_vector_attention_mask(states.shape[1], inputs["attention_mask"])
                weights = mask.unsqueeze(-1).to(states.dtype)
                out.append(((states * weights).sum(1) / weights.sum(1)).numpy())
        return np.concatenate(out)

    sides = {"embedcli": embedcli, "direct": direct, "embed_job": _embed_job(paths, folder, batch)}
    seconds, answers = _timed_rounds(sides, rounds)
    np.testing.assert_allclose(answers["embedcli"], answers["direct"], atol=1e-4)
    return {name: count / s for name, s in seconds.items()}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="32 images, 12 clips, 1 round")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="embedcli's decoding threads")
    parser.add_argument("--only", choices=["images", "audio"], help="run one half")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.clips, args.rounds = 32, 12, 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from embedcli.backends.hf import quiet_hugging_face

    quiet_hugging_face()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        (root / "audio").mkdir()
        rows = []
        if args.only != "audio":
            images = _images(root / "images", args.images, args.batch_size, args.rounds, args.workers)
            rows.append((f"{args.images} JPEG 640x480 -> CLIP", images, "images"))
            shrunk = {"embedcli": images["min_side"], "direct": images["direct"]}
            rows.append(("  the same, decoded with min_side=224", shrunk, "images_min_side"))
            job = {"embedcli": images["embed_job"], "direct": images["direct"]}
            rows.append(("  the same, as `embedcli embed` (EmbedJob)", job, "images_embed_job"))
        if args.only != "images":
            clips = _audio(root / "audio", args.clips, args.batch_size, args.rounds, args.workers)
            rows.append((f"{args.clips} FLAC 2-6 s 44.1 kHz -> WavLM", clips, "clips"))
            job = {"embedcli": clips["embed_job"], "direct": clips["direct"]}
            rows.append(("  the same, as `embedcli embed` (EmbedJob)", job, "clips_embed_job"))
    print(
        f"median of {args.rounds} rounds, batch {args.batch_size}, {args.workers} decoding threads; "
        "embedcli decodes files, direct does not"
    )
    print(f"{'input':<44} {'embedcli':>10} {'direct':>10} {'ratio':>7}   (per second)")
    for label, rates, key in rows:
        ratio = rates["embedcli"] / rates["direct"]
        print(f"{label:<44} {rates['embedcli']:>10.1f} {rates['direct']:>10.1f} {ratio:>6.2f}x")
        results[f"{key}_embedcli_per_s"] = rates["embedcli"]
        results[f"{key}_direct_per_s"] = rates["direct"]
        results[f"{key}_ratio"] = ratio
    print("target: ratio >= 0.9x (full-size decoding)")
    return results


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
