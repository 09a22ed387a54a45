"""Does the classifier's input pipeline keep up with training? Clips/s of the data path (decode + resample + fbank
+ SpecAugment + mixup + noise, in DataLoader workers, exactly as `train_classifier.py` builds it) against the
clips/s a training step (forward, backward, AdamW) consumes, for the tiny configs used on CPU.

    python benchmarks/bench_classifier_input.py [--dataset_name DIR] [--workers 2] [--batch 32] [--frames 96]

Without --dataset_name it writes 640 one-second 44.1 kHz clips (so resampling is part of the cost) to a temporary
audiofolder. The two sides are measured one after the other: on a 2-core machine they then share the cores, so a
ratio well above 1 is what keeps training from waiting.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import soundfile
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import KEYWORD_VIT_OVERRIDES as VIT  # noqa: E402
from common import machine  # noqa: E402
from transformers import AutoModelForAudioClassification  # noqa: E402

from specformers import ASiTConfig, ASTConfig, MASTConfig, SpectrogramFeatureExtractor  # noqa: E402
from specformers.configuration.configuration_utils import config_from_preset  # noqa: E402
from specformers.training.classification_data import (  # noqa: E402
    SINGLE_LABEL,
    ClassificationCollator,
    LabelEncoder,
    SkipCounter,
    discover_label_names,
)
from specformers.training.data import IndexedExamples, load_audio_dataset  # noqa: E402
from specformers.training.train_classifier import AugmentationArguments  # noqa: E402

# the configurations of the README's keyword-spotting runs
MODELS = {"ast-tiny": (ASTConfig, VIT), "mast-tiny": (MASTConfig, None), "asit-tiny": (ASiTConfig, VIT)}


def write_clips(folder: str, count: int, rate: int = 44100, seconds: float = 1.0, classes: int = 10) -> None:
    """An audiofolder (train split) of `count` noisy tones of `seconds` at `rate` in `classes` label folders."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    for i in range(count):
        label = os.path.join(folder, "train", f"class{i % classes}")
        os.makedirs(label, exist_ok=True)
        clip = 0.3 * np.sin(2 * np.pi * (200 + 40 * i) * t) + 0.05 * rng.standard_normal(len(t))
        soundfile.write(os.path.join(label, f"{i:04d}.wav"), clip.astype(np.float32), rate)


def training_collator(dataset_name: str, extractor, augment=None):
    """The train split of an audiofolder and the training collator `train_classifier.py` builds for it."""
    dataset = load_audio_dataset(dataset_name, None, "train", "audio")
    names = discover_label_names(dataset, "label", SINGLE_LABEL)
    encoder = LabelEncoder(names, dataset.features["label"], SINGLE_LABEL, "train")
    return dataset, ClassificationCollator(extractor, encoder, "audio", "label", SkipCounter(), augment)


def pipeline_clips_per_second(dataset_name: str, extractor, args) -> float:
    augment = AugmentationArguments(freqm=24, timem=24, mixup=0.3, noise=True)
    dataset, collator = training_collator(dataset_name, extractor, augment)
    loader = torch.utils.data.DataLoader(IndexedExamples(dataset), batch_size=args.batch, shuffle=True,
                                         num_workers=args.workers, collate_fn=collator,
                                         persistent_workers=args.workers > 0)
    for _ in range(2):  # warm-up: workers start, first batches
        iterator = iter(loader)
        next(iterator)
    start, clips = time.perf_counter(), 0
    for batch in loader:
        clips += len(batch["input_values"])
    return clips / (time.perf_counter() - start)


def training_clips_per_second(name: str, frames: int, batch: int, repeats: int = 10) -> float:
    config_class, overrides = MODELS[name]
    config = config_from_preset(config_class, name, f"target_frames={frames},num_labels=12," + (overrides or ""))
    model = AutoModelForAudioClassification.from_config(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    features, labels = torch.randn(batch, frames, 128), torch.randint(12, (batch,))

    def step():
        model(input_values=features, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return batch * repeats / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset_name", help="An audiofolder with a train split and a label column.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--frames", type=int, default=96)
    args = parser.parse_args()
    extractor = SpectrogramFeatureExtractor.from_preset("speech_commands", target_frames=args.frames)
    with tempfile.TemporaryDirectory() as folder:
        source = args.dataset_name or folder
        if not args.dataset_name:
            write_clips(folder, 640)
        pipeline = pipeline_clips_per_second(source, extractor, args)
    print(f"Classifier input pipeline vs training step, batch {args.batch}, {args.frames} frames, "
          f"{args.workers} DataLoader workers; {machine()}\n")
    print(f"input pipeline ({'44.1 kHz generated clips' if not args.dataset_name else args.dataset_name}): "
          f"{pipeline:.0f} clips/s\n")
    print("| model | training step consumes | pipeline / consumption |")
    print("|---|---|---|")
    for name in MODELS:
        consumed = training_clips_per_second(name, args.frames, args.batch)
        print(f"| {name} | {consumed:.0f} clips/s | {pipeline / consumed:.1f}x |")


if __name__ == "__main__":
    main()
