"""MAST-Small vs AST-Base forward (fp32, SDPA, random weights): time and peak memory at 1024 frames, and how the
time of each grows from 512 to 1024 to 2048 frames (the MAST paper: pooling cuts AST's quadratic cost).

    python benchmarks/bench_mast_vs_ast.py [--batch_sizes 1 4] [--scaling_frames 512 1024 2048] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import interleaved_medians, machine, peak_memory_in_subprocess, peak_memory_increase  # noqa: E402

from specformers import ASTConfig, ASTModel, MASTConfig, MASTModel  # noqa: E402


def build(name: str, frames: int):
    torch.manual_seed(0)
    if name == "MAST-S":
        return MASTModel(MASTConfig.from_preset("mast-small", target_frames=frames)).eval()
    return ASTModel(ASTConfig.from_preset("ast-base", target_frames=frames)).eval()


def measure_memory(name: str, batch: int, frames: int) -> int:
    """Run in a subprocess: bytes the resident set rises during one forward."""
    model, inputs = build(name, frames), torch.randn(batch, frames, 128)
    with torch.inference_mode():
        model(inputs)  # warm-up
        return peak_memory_increase(lambda: model(inputs))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--scaling_frames", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory_of", nargs=3, metavar=("MODEL", "BATCH", "FRAMES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of:
        name, batch, frames = args.memory_of
        print(json.dumps({"bytes": measure_memory(name, int(batch), int(frames))}))
        return

    names = ("MAST-S", "AST-B")
    print(f"MAST-S vs AST-B, fp32, SDPA, median of {args.repeats}; {machine()}\n")
    print("| batch | MAST-S (s) | AST-B (s) | time ratio | MAST-S peak (MB) | AST-B peak (MB) | memory ratio |")
    print("|---|---|---|---|---|---|---|")
    models = {name: build(name, 1024) for name in names}
    for batch in args.batch_sizes:
        inputs = torch.randn(batch, 1024, 128)
        with torch.inference_mode():
            times = interleaved_medians({n: (lambda m=m: m(inputs)) for n, m in models.items()}, args.repeats)
        memory = {n: peak_memory_in_subprocess(__file__, ["--memory_of", n, str(batch), "1024"]) for n in names}
        print(f"| {batch} | {times['MAST-S']:.3f} | {times['AST-B']:.3f} | {times['MAST-S'] / times['AST-B']:.2f} | "
              f"{memory['MAST-S'] / 2**20:.0f} | {memory['AST-B'] / 2**20:.0f} | "
              f"{memory['MAST-S'] / memory['AST-B']:.2f} |", flush=True)

    print("\n| frames | MAST-S (s) | growth | AST-B (s) | growth | time ratio |")
    print("|---|---|---|---|---|---|")
    previous = None
    for frames in args.scaling_frames:
        inputs = torch.randn(1, frames, 128)
        scaled = {name: build(name, frames) for name in names}  # position tables sized for this length
        with torch.inference_mode():
            times = interleaved_medians({n: (lambda m=m: m(inputs)) for n, m in scaled.items()}, args.repeats)
        growth = {n: f"{times[n] / previous[n]:.2f}x" if previous else "" for n in names}
        print(f"| {frames} | {times['MAST-S']:.3f} | {growth['MAST-S']} | {times['AST-B']:.3f} | {growth['AST-B']} | "
              f"{times['MAST-S'] / times['AST-B']:.2f} |", flush=True)
        previous = times


if __name__ == "__main__":
    main()
