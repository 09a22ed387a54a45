"""Steps per second of the pretraining loop: this checkout against an earlier commit, on the quickstart's tiny
ASiT and the shipped keyword corpus, in the same run:

    python benchmarks/bench_pretraining_loop.py [--baseline 7d38e0c] [--repeats 3]

The default baseline is the last commit whose loop read the loss terms and the clip counts on the host at every
step (a device-to-host synchronisation per step); this checkout reads them at logging steps only. Each side runs
`pretrain_asit` in a fresh process for `--short` and `--long` steps, the sides taking turns; steps/s is
(long - short) / (time(long) - time(short)), which leaves out start-up and data set-up. On a CPU the host *is* the
device, so little should change here; the saving is on a GPU, which can queue the next steps' kernels while the
host prepares batches instead of idling at every synchronisation.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from common import machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = ["--dataset_name", os.path.join(ROOT, "corpora", "kws_mini"), "--config_name", "asit-tiny",
       "--feature_extractor_preset", "speech_commands", "--target_frames", "96", "--per_device_train_batch_size", "32",
       "--logging_steps", "10", "--dataloader_num_workers", "1", "--learning_rate", "5e-4"]


def baseline_path(ref: str, work: str) -> str:
    """A folder to put on PYTHONPATH so that `import specformers` imports commit `ref` (a git worktree)."""
    tree = os.path.join(work, f"baseline-{ref}")
    if not os.path.isdir(tree):
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, ref], check=True)
    path = os.path.join(work, f"baseline-{ref}-import")
    os.makedirs(path, exist_ok=True)
    if not os.path.exists(os.path.join(path, "specformers")):
        os.symlink(tree, os.path.join(path, "specformers"))
    return path


def imported_from(pythonpath: str | None) -> str:
    env = {**os.environ, **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    code = "import os, specformers; print(os.path.dirname(specformers.__file__))"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def run_seconds(pythonpath: str | None, steps: int, out: str) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1",
           **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "specformers.training.pretrain_asit", *RUN, "--output_dir", out,
                    "--max_steps", str(steps)], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="7d38e0c", help="git commit to compare with")
    parser.add_argument("--short", type=int, default=10)
    parser.add_argument("--long", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "benchmark_runs", "pretraining_loop"))
    args = parser.parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    sides = {f"baseline {args.baseline}": baseline_path(args.baseline, args.work_dir), "this checkout": None}
    for name, path in sides.items():
        print(f"{name}: specformers from {imported_from(path)}")
    rates = {name: [] for name in sides}
    for repeat in range(args.repeats):
        for name, path in sides.items():
            out = os.path.join(args.work_dir, "run")
            seconds = {steps: run_seconds(path, steps, f"{out}-{steps}-{repeat}") for steps in (args.short, args.long)}
            rates[name].append((args.long - args.short) / (seconds[args.long] - seconds[args.short]))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    baseline, current = medians.values()
    print(f"\nPretraining loop, asit-tiny at 96 frames, 32 clips per step, on {machine()}; median of {args.repeats}:")
    print("| code | steps/s |\n|---|---|")
    for name, value in medians.items():
        print(f"| {name} | {value:.2f} |")
    print(f"\nThis checkout / baseline: {current / baseline:.2f}x")


if __name__ == "__main__":
    main()
