"""What centring MAST's relative positions changes: pretrain on long clips, fine-tune on short ones (the papers'
protocol, e.g. SS-MAST on 10 s AudioSet clips, then 1 s keywords), at small scale.

A MAST configured for a long input keeps relative-position tables for its long grid. Fine-tuned and run on short
clips, every relative distance d should read the row trained for d ("centre": specformers now). Before the fix,
and in timm on a grid smaller than its own, a short grid read the tables' leading rows ("leading": distance 0 meets
the row trained for -(K - k)). Both are run here from the same pretrained encoders, the "leading" runs by
swapping `fit_relative_table` for the old reading in this process.

Pretraining: SS-MAST, `mast-tiny`, on 4 s clips that each join 4 training keyword clips (no labels; the corpus is
written once under --work_dir), 400 frames. Fine-tuning: 96 frames on the keyword corpus, then its test split.
Each finished run is appended to `runs.jsonl`, so an interrupted benchmark resumes; `table.md` is rebuilt after
every run.

    python benchmarks/mast_long_to_short.py --kws corpus/kws            # about 1.5 h on 2 cores for 3 seeds
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time

import numpy as np
import soundfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from study import STUDY_SSMAST, describe_corpus, finetune_argv, machine  # noqa: E402

from specformers.modeling import modeling_mast  # noqa: E402
from specformers.training.script_runner import run_step  # noqa: E402

LONG_FRAMES = 400  # 4 s
VARIANTS = ("centre", "leading")
CENTRED = modeling_mast.fit_relative_table


def leading_rows(table, length, q_stride, kv_stride):
    """The reading before the fix: a shorter grid takes the table's first `length` rows (longer: unchanged)."""
    if length <= table.shape[0]:
        return table[:length]
    return CENTRED(table, length, q_stride, kv_stride)


def build_long_clips(kws: str, out: str, per_clip: int = 4, seed: int = 0) -> str:
    """An audiofolder of clips that each join `per_clip` training keyword clips (shuffled), 16 kHz mono."""
    folder = os.path.join(out, "train")
    if os.path.isdir(folder):
        return out
    files = sorted(os.path.join(root, name) for root, _, names in os.walk(os.path.join(kws, "train"))
                   for name in names if name.endswith(".wav"))
    order = np.random.default_rng(seed).permutation(len(files))
    os.makedirs(folder + ".partial")
    for index, start in enumerate(range(0, len(order) - per_clip + 1, per_clip)):
        parts = []
        for i in order[start:start + per_clip]:
            audio, rate = soundfile.read(files[i], dtype="float32")
            if rate != 16000:
                raise ValueError(f"{files[i]} is at {rate} Hz; the keyword corpus is 16 kHz.")
            parts.append(audio if audio.ndim == 1 else audio.mean(axis=1))
        soundfile.write(os.path.join(folder + ".partial", f"long{index:04d}.wav"), np.concatenate(parts), 16000)
    os.rename(folder + ".partial", folder)
    return out


def pretrain(long_clips: str, encoder: str, steps: int, seed: int) -> None:
    if os.path.isfile(os.path.join(encoder, "config.json")):
        return  # pretrained by an earlier (interrupted) run of this benchmark
    run_step(f"seed {seed}: SS-MAST pretraining at {LONG_FRAMES} frames", "specformers.training.pretrain_ssmast", [
        "--dataset_name", long_clips, "--output_dir", encoder, "--backbone", "mast", "--config_name", "mast-tiny",
        "--feature_extractor_preset", "speech_commands", "--target_frames", LONG_FRAMES,
        "--per_device_train_batch_size", 32, "--max_steps", steps, "--learning_rate", 3e-4,
        "--warmup_steps", max(1, steps // 10), "--logging_steps", max(1, steps // 20), "--dataloader_num_workers", 1,
        "--seed", seed, *STUDY_SSMAST])


def finetune(kws: str, encoder: str, out: str, steps: int, seed: int, variant: str) -> dict:
    modeling_mast.fit_relative_table = CENTRED if variant == "centre" else leading_rows
    try:
        return run_step(f"seed {seed}: fine-tuning at 96 frames, {variant} rows",
                        "specformers.training.train_classifier",
                        finetune_argv(["--model_name_or_path", encoder], kws, out, steps, seed))
    finally:
        modeling_mast.fit_relative_table = CENTRED


def write_table(runs: list[dict], out: str, header: str) -> str:
    lines = [header, "", "| tables read at 96 frames | test accuracy (mean +- std) | seeds | per seed |",
             "|---|---|---|---|"]
    for variant in VARIANTS:
        accuracies = [r["test_accuracy"] for r in sorted(runs, key=lambda r: r["seed"]) if r["variant"] == variant]
        if accuracies:
            spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
            lines.append(f"| {variant} | {statistics.mean(accuracies):.3f} +- {spread:.3f} | {len(accuracies)} | "
                         + ", ".join(f"{a:.3f}" for a in accuracies) + " |")
    pairs = {r["seed"]: {} for r in runs}
    for r in runs:
        pairs[r["seed"]][r["variant"]] = r["test_accuracy"]
    differences = [p["centre"] - p["leading"] for p in pairs.values() if len(p) == 2]
    if differences:
        spread = statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else float("nan")
        lines += ["", f"Centre minus leading, paired by seed (same pretrained encoder): "
                      f"{statistics.mean(differences):+.3f} +- {spread:.3f} (standard error over {len(differences)} "
                      "seeds)."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kws", required=True, help="kws/ folder of corpora/make_corpus.py (keyword spotting)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain_steps", type=int, default=300)
    parser.add_argument("--finetune_steps", type=int, default=600)
    parser.add_argument("--output_dir", default=os.path.join("benchmark_runs", "mast_long_to_short"),
                        help="results folder (not kept in git; the committed results were written with --output_dir)")
    parser.add_argument("--work_dir", default=os.path.join("benchmark_runs", "mast_long_to_short_work"),
                        help="corpus and models (not kept in git)")
    args = parser.parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    runs_path = os.path.join(args.output_dir, "runs.jsonl")
    runs = [json.loads(line) for line in open(runs_path)] if os.path.isfile(runs_path) else []
    done = {(r["seed"], r["variant"]) for r in runs}
    command = " ".join(map(shlex.quote, sys.argv[1:] if argv is None else map(str, argv)))
    header = (f"MAST pretrained (SS-MAST) at {LONG_FRAMES} frames on joined keyword clips, fine-tuned and tested at "
              f"96 frames, on {machine()}: {args.pretrain_steps} pretraining + {args.finetune_steps} fine-tuning "
              f"steps of 32 clips. Command: `python benchmarks/mast_long_to_short.py {command}`.\n\n"
              + (describe_corpus("kws", args.kws) or ""))
    long_clips = build_long_clips(args.kws, os.path.join(args.work_dir, "long_clips"))
    for seed in args.seeds:
        encoder = os.path.join(args.work_dir, f"encoder-{seed}")
        for variant in VARIANTS:
            if (seed, variant) in done:
                continue
            pretrain(long_clips, encoder, args.pretrain_steps, seed)
            began = time.time()
            metrics = finetune(args.kws, encoder, os.path.join(args.work_dir, f"classifier-{seed}-{variant}"),
                               args.finetune_steps, seed, variant)
            record = {"seed": seed, "variant": variant, "test_accuracy": metrics["eval_accuracy"],
                      "pretrain_frames": LONG_FRAMES, "pretrain_steps": args.pretrain_steps,
                      "finetune_steps": args.finetune_steps, "finetune_seconds": round(time.time() - began, 1),
                      "date": time.strftime("%Y-%m-%d %H:%M")}
            with open(runs_path, "a") as f:
                f.write(json.dumps(record) + "\n")
            runs.append(record)
            print(write_table(runs, args.output_dir, header), flush=True)


if __name__ == "__main__":
    main()
