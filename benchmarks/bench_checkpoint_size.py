"""Size and write time of a pretraining checkpoint (student, EMA teacher, heads, centres or mixup memory, AdamW or
SGD state, random states) for the largest presets, from a one-step run of each script on generated audio:

    python benchmarks/bench_checkpoint_size.py

The cluster page quotes these numbers (how much disk `--save_total_limit` saves, how long a preempted job needs
to write its last checkpoint).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import soundfile
from common import fresh_accelerate_state, machine

from specformers.training import checkpoints, loop, pretrain_asit, pretrain_ssmast

RUNS = {  # name -> (script, its arguments); MAST-S at 400 frames keeps the step short (sizes barely depend on it)
    "ASiT pretraining, asit-base": (pretrain_asit, ["--config_name", "asit-base"]),
    "SS-MAST pretraining, mast-small": (pretrain_ssmast, ["--config_name", "mast-small", "--target_frames", "400"]),
}


def folder_megabytes(path: str) -> float:
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names) / 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    timings = []

    def timed_save(*args, **kwargs):
        start = time.perf_counter()
        path = checkpoints.save_checkpoint(*args, **kwargs)
        timings.append((path, time.perf_counter() - start))
        return path

    loop.save_checkpoint = timed_save  # the loop's own call, timed
    rows = []
    with tempfile.TemporaryDirectory() as work:
        os.makedirs(os.path.join(work, "audio", "train"))
        rng = np.random.default_rng(0)
        for i in range(4):
            soundfile.write(os.path.join(work, "audio", "train", f"noise{i}.wav"),
                            0.1 * rng.standard_normal(16000 * 7).astype(np.float32), 16000)
        for name, (script, extra) in RUNS.items():
            out = os.path.join(work, name.split(",")[0].replace(" ", "-"))
            fresh_accelerate_state()  # one Accelerator per run
            script.main(["--dataset_name", os.path.join(work, "audio"), "--output_dir", out, "--max_steps", "1",
                         "--per_device_train_batch_size", "2", "--dataloader_num_workers", "0", *extra])
            path, seconds = timings[-1]
            rows.append((name, folder_megabytes(path), seconds))
    print(f"\nOne pretraining checkpoint, on {machine()} (local disk):")
    print("| run | checkpoint | written in |\n|---|---|---|")
    for name, megabytes, seconds in rows:
        print(f"| {name} | {megabytes:.0f} MB | {seconds:.1f} s |")


if __name__ == "__main__":
    main()
