"""ASiT pretraining step on CPU: throughput (clips/s), peak memory, and the overhead of the whole step over the
bare backbones it runs (student forward + backward on the 2 corrupted views, teacher forward on the 2 clean
views). Also the input pipeline alone (decode + 2 crops + features + GMML), to see whether it keeps up.

    python benchmarks/bench_asit_pretraining.py [--configs asit-tiny asit-base] [--repeats 3]

The whole step is the model's forward (teacher, student, heads, losses, centre update), backward, the script's
AdamW step and the EMA teacher update.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time

import numpy as np
import soundfile
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import interleaved_medians, machine, peak_memory_in_subprocess, peak_memory_increase  # noqa: E402

from specformers import ASiTConfig, ASiTForPreTraining, SpectrogramFeatureExtractor  # noqa: E402
from specformers.modeling.pretraining_asit import gmml_corrupt  # noqa: E402
from specformers.training.loop import make_optimizer  # noqa: E402
from specformers.training.views import ASiTCollator  # noqa: E402

BATCH = {"asit-tiny": 32, "asit-base": 4}


def setup(name: str):
    torch.manual_seed(0)
    config = ASiTConfig.from_preset(name)
    model = ASiTForPreTraining(config).train()
    batch = BATCH[name]
    clean = torch.randn(batch, 2, config.target_frames, config.num_mel_bins)
    rng = np.random.default_rng(0)
    corrupted, masks = zip(*(gmml_corrupt(clean[:, v], config, rng) for v in range(2)))
    return model, clean, torch.stack(corrupted, 1), torch.stack(masks, 1)


def whole_step(model, optimizer, clean, corrupted, mask):
    loss = model(clean, corrupted, mask, teacher_temperature=0.05).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    model.update_teacher(0.996)


def bare_backbones(model, clean, corrupted):
    with torch.no_grad():
        model.teacher_vit(clean.transpose(0, 1).flatten(0, 1))
    model.vit(corrupted.transpose(0, 1).flatten(0, 1)).last_hidden_state.sum().backward()
    model.zero_grad()


def measure_memory(name: str) -> int:
    model, clean, corrupted, mask = setup(name)
    optimizer = make_optimizer(model, 0.04)  # as pretrain_asit.py
    whole_step(model, optimizer, clean, corrupted, mask)  # optimizer state exists before measuring
    return peak_memory_increase(lambda: whole_step(model, optimizer, clean, corrupted, mask))


def pipeline_throughput(config: ASiTConfig, clips: int = 64) -> float:
    """Clips/s of the collator (decode WAV bytes, 2 crops, features, GMML) in one process."""
    rng = np.random.default_rng(0)
    seconds = config.target_frames / 100 + 1
    items = []
    for index in range(clips):
        buffer = io.BytesIO()
        soundfile.write(buffer, (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32), 16000,
                        format="WAV")
        items.append((index, {"audio": {"bytes": buffer.getvalue(), "path": None}}))
    extractor = SpectrogramFeatureExtractor.from_preset("asit", target_frames=config.target_frames)
    collator = ASiTCollator(extractor, config, "audio", seed=0, roll_probability=0.5)
    batch = BATCH["asit-tiny"] if config.hidden_size < 768 else BATCH["asit-base"]
    start = time.perf_counter()
    for first in range(0, clips, batch):
        collator(items[first : first + batch])
    return clips / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["asit-tiny", "asit-base"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory_of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of:
        print(json.dumps({"bytes": measure_memory(args.memory_of)}))
        return

    print(f"ASiT pretraining step, fp32, median of {args.repeats}; {machine()}\n")
    print("| config | batch (clips) | whole step (s) | clips/s | bare backbones (s) | overhead | peak memory (MB) "
          "| input pipeline (clips/s, 1 process) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.configs:
        model, clean, corrupted, mask = setup(name)
        optimizer = make_optimizer(model, 0.04)
        times = interleaved_medians({
            "whole": lambda: whole_step(model, optimizer, clean, corrupted, mask),
            "bare": lambda: bare_backbones(model, clean, corrupted),
        }, args.repeats)
        memory = peak_memory_in_subprocess(__file__, ["--memory_of", name])
        batch = clean.shape[0]
        print(f"| {name} | {batch} | {times['whole']:.3f} | {batch / times['whole']:.1f} | {times['bare']:.3f} | "
              f"{times['whole'] / times['bare']:.2f}x | {memory / 2**20:.0f} | "
              f"{pipeline_throughput(model.config):.1f} |", flush=True)


if __name__ == "__main__":
    main()
