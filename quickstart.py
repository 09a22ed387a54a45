"""The README's main command: `python -m specformers.quickstart [--output_dir DIR]`.

Builds a tiny AST, teaches it for a few seconds to tell low, middle and high tones apart (generated audio, no
download), saves it with its feature extractor, and classifies a new 44.1 kHz clip through
`pipeline("audio-classification")`.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from transformers import pipeline

from specformers import ASTConfig, ASTForAudioClassification, SpectrogramFeatureExtractor

LABELS = {"low": (150.0, 300.0), "middle": (600.0, 1200.0), "high": (2400.0, 4800.0)}  # pitch range in Hz


def tone(low: float, high: float, rate: int, rng: np.random.Generator, seconds: float = 1.0) -> np.ndarray:
    """A one-second tone of random pitch in [low, high) Hz with a little noise."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * rng.uniform(low, high) * t) + 0.02 * rng.standard_normal(len(t))).astype(
        np.float32)


def train_tiny_ast(extractor: SpectrogramFeatureExtractor, steps: int, seed: int) -> ASTForAudioClassification:
    """A tiny AST trained on freshly generated tones, `steps` batches of 24 clips."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    # Mean pooling of the patch tokens learns this toy task in seconds; the cls/distillation pooling of
    # AST-Base needs far more steps at this size.
    config = ASTConfig.from_preset("ast-tiny", id2label=dict(enumerate(LABELS)), pooling="mean",
                                   target_frames=extractor.target_frames)
    model = ASTForAudioClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    model.train()
    for step in range(steps):
        labels = rng.integers(len(LABELS), size=24)
        clips = [tone(*LABELS[config.id2label[int(i)]], extractor.sampling_rate, rng) for i in labels]
        inputs = extractor(clips, sampling_rate=extractor.sampling_rate, return_tensors="pt")
        loss = model(**inputs, labels=torch.as_tensor(labels)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 30 == 0 or step == steps - 1:
            print(f"  step {step:3d}  loss {loss.item():.3f}")
    return model.eval()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="quickstart_output")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.time()
    model_dir = os.path.join(args.output_dir, "tiny-ast-tones")

    extractor = SpectrogramFeatureExtractor.from_preset("speech_commands")  # 128 frames = 1.28 s
    print(f"Training a tiny AST on generated tones ({args.steps} steps):")
    model = train_tiny_ast(extractor, args.steps, args.seed)
    model.save_pretrained(model_dir)
    extractor.save_pretrained(model_dir)

    classifier = pipeline("audio-classification", model=model_dir)
    rng = np.random.default_rng(args.seed + 1)
    clip = tone(*LABELS["high"], 44100, rng)  # another rate: the extractor resamples it
    print("\nA new high tone at 44.1 kHz through pipeline('audio-classification'):")
    for prediction in classifier({"array": clip, "sampling_rate": 44100}):
        print(f"  {prediction['label']:>6}: {prediction['score']:.3f}")
    print(f"\nModel and feature extractor: {os.path.abspath(model_dir)}  ({time.time() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
