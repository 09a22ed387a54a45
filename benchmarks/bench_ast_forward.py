"""AST-Base forward: specformers vs transformers' ASTForAudioClassification with the same weights (fp32, SDPA).

    python benchmarks/bench_ast_forward.py [--frames 1024] [--batch_sizes 1 4] [--repeats 5]

Times are medians of interleaved runs in one process; peak memory is the rise of the resident set during one
forward, each side measured in a fresh subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import interleaved_medians, machine, peak_memory_in_subprocess, peak_memory_increase  # noqa: E402

from specformers import ASTForAudioClassification  # noqa: E402


def load(side: str, checkpoint: str):
    model_class = ASTForAudioClassification if side == "specformers" else transformers.ASTForAudioClassification
    return model_class.from_pretrained(checkpoint, attn_implementation="sdpa").eval()


def measure_memory(side: str, checkpoint: str, batch: int, frames: int) -> int:
    """Run in a subprocess: bytes the resident set rises during one forward."""
    model = load(side, checkpoint)
    inputs = torch.randn(batch, frames, 128)
    with torch.inference_mode():
        model(inputs)  # warm-up: lazily created buffers and kernels are not part of the peak
        return peak_memory_increase(lambda: model(inputs))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory_of", nargs=3, metavar=("SIDE", "CHECKPOINT", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of:
        side, checkpoint, batch = args.memory_of
        print(json.dumps({"bytes": measure_memory(side, checkpoint, int(batch), args.frames)}))
        return

    with tempfile.TemporaryDirectory() as checkpoint:
        torch.manual_seed(0)
        config = transformers.ASTConfig(max_length=args.frames, num_labels=527)  # AST-Base, AudioSet head
        reference = transformers.ASTForAudioClassification(config)
        with torch.no_grad():  # transformers zero-initialises tokens and positions: randomise every weight
            for parameter in reference.parameters():
                parameter.normal_(0, 0.02)
        reference.save_pretrained(checkpoint)
        models = {side: load(side, checkpoint) for side in ("specformers", "transformers")}

        rows = []
        for batch in args.batch_sizes:
            inputs = torch.randn(batch, args.frames, 128)
            with torch.inference_mode():
                difference = (models["specformers"](inputs).logits - models["transformers"](inputs).logits).abs()
                times = interleaved_medians({side: (lambda m=m: m(inputs)) for side, m in models.items()},
                                            args.repeats)
            memory = {side: peak_memory_in_subprocess(__file__, ["--frames", str(args.frames), "--memory_of", side,
                                                                 checkpoint, str(batch)])
                      for side in models}
            rows.append((batch, times, memory, difference.max().item()))

    print(f"\nAST-Base, {args.frames} frames, fp32, SDPA, median of {args.repeats}; {machine()}\n")
    print("| batch | specformers (s) | transformers (s) | time ratio | specformers peak (MB) | transformers peak (MB) "
          "| memory ratio | max logit diff |")
    print("|---|---|---|---|---|---|---|---|")
    for batch, times, memory, diff in rows:
        print(f"| {batch} | {times['specformers']:.3f} | {times['transformers']:.3f} | "
              f"{times['specformers'] / times['transformers']:.2f} | {memory['specformers'] / 2**20:.0f} | "
              f"{memory['transformers'] / 2**20:.0f} | {memory['specformers'] / memory['transformers']:.2f} | "
              f"{diff:.1e} |")


if __name__ == "__main__":
    main()
