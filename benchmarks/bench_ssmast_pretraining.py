"""SS-MAST pretraining step on CPU with MAST-S and AST-B backbones: throughput (clips/s), peak memory, and the
overhead of the whole step over the bare backbones it runs (student forward + backward on both views, teacher
forward on both views).

    python benchmarks/bench_ssmast_pretraining.py [--backbones mast-small ast-base] [--batch 2] [--repeats 3]

The whole step is the log-mixup with the memory, the model's forward (student with patch-drop, teacher,
projections, symmetric InfoNCE), backward, the script's fused AdamW step and the EMA teacher update.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import interleaved_medians, machine, peak_memory_in_subprocess, peak_memory_increase  # noqa: E402

from specformers import ASTConfig, MASTConfig, SSMASTConfig, SSMASTForPreTraining  # noqa: E402
from specformers.feature_extraction.augmentations import LogMixup  # noqa: E402
from specformers.training.loop import make_optimizer  # noqa: E402

BACKBONES = {"mast-small": MASTConfig, "ast-base": ASTConfig}


def setup(name: str, batch: int, frames: int):
    torch.manual_seed(0)
    backbone = BACKBONES[name].from_preset(name, target_frames=frames)
    model = SSMASTForPreTraining(SSMASTConfig(backbone_config=backbone)).train()
    mixup = LogMixup(memory_size=16)
    mixup.remember(torch.randn(16, frames, 128))
    views = torch.randn(batch, 2, frames, 128)
    return model, mixup, views, make_optimizer(model, 0.04)


def whole_step(model, mixup, views, optimizer):
    draws = torch.rand(2, views.shape[0], 2)
    model(mixup(views, draws[0], draws[1])).loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    model.update_teacher(0.99)


def bare_backbones(model, views):
    flat = views.transpose(0, 1).flatten(0, 1)
    with torch.no_grad():
        model.teacher_backbone(flat)
    model.backbone(flat).last_hidden_state.sum().backward()
    model.zero_grad()


def measure_memory(name: str, batch: int, frames: int) -> int:
    model, mixup, views, optimizer = setup(name, batch, frames)
    whole_step(model, mixup, views, optimizer)  # optimizer state exists before measuring
    return peak_memory_increase(lambda: whole_step(model, mixup, views, optimizer))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--batch", type=int, default=2, help="Clips per step (two views each).")
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory_of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of:
        print(json.dumps({"bytes": measure_memory(args.memory_of, args.batch, args.frames)}))
        return

    print(f"SS-MAST pretraining step, {args.batch} clips x 2 views x {args.frames} frames, fp32, median of "
          f"{args.repeats}; {machine()}\n")
    print("| backbone | whole step (s) | clips/s | bare backbones (s) | overhead | peak memory (MB) |")
    print("|---|---|---|---|---|---|")
    for name in args.backbones:
        model, mixup, views, optimizer = setup(name, args.batch, args.frames)
        times = interleaved_medians({"whole": lambda: whole_step(model, mixup, views, optimizer),
                                     "bare": lambda: bare_backbones(model, views)}, args.repeats)
        memory = peak_memory_in_subprocess(__file__, ["--memory_of", name, "--batch", str(args.batch), "--frames",
                                                      str(args.frames)])
        print(f"| {name} | {times['whole']:.2f} | {args.batch / times['whole']:.2f} | {times['bare']:.2f} | "
              f"{times['whole'] / times['bare']:.2f}x | {memory / 2**20:.0f} |", flush=True)


if __name__ == "__main__":
    main()
