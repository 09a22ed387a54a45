"""End-to-end fine-tuning throughput: `train_classifier` against the transformers way, and each against its model
alone.

    python benchmarks/bench_finetune_e2e.py [--families ast mast asit ast-base] [--rounds 3]
    python benchmarks/bench_finetune_e2e.py --families ast mast asit --threads 1 --workers 1   # a core each

For each family, in one process and in alternating rounds:
- specformers: `specformers.training.train_classifier` (decoding, resampling, fbank in its DataLoader workers);
- the transformers way (AST only, the family transformers has): `ASTForAudioClassification` of the same size,
  `ASTFeatureExtractor` applied in `datasets`' `set_transform` on an audiofolder cast to 16 kHz, and `Trainer`, as
  transformers' audio-classification example does;
- each side's model alone: forward, loss, backward, gradient clipping and fused AdamW on tensors in memory, the
  step Trainer takes, without any data path.
Same data (generated clips at 44.1 kHz, so both sides resample), batch, DataLoader workers and steps; the clips/s of
a run are timed from the end of its `--skip` first steps (workers starting, first batches) to its last step, by a
callback added to every `Trainer` the benchmark runs. Keyword sizes: 1 s clips, 96 frames, AST and ASiT 128 wide x
4 layers, `mast-tiny`; AST-Base: 10 s clips, 1024 frames, a small batch (a CPU takes seconds per clip).
By default the models use all cores and the workers share them; `--threads` gives the models fewer, so that the
workers have cores of their own (as beside a GPU). `--busy_core_baseline` also times each model alone while another
process spins on a free core: whether work there slows the model on the machine at hand (on a VM whose cores
share hardware, it can). `--restart_workers_baseline` also runs specformers with its workers started afresh each
epoch (`--dataloader_persistent_workers false`, transformers' default and specformers' before 2026-11-30).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import transformers
from datasets import Audio, load_dataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_classifier_input import write_clips  # noqa: E402
from common import KEYWORD_VIT as VIT  # noqa: E402
from common import fresh_accelerate_state, machine, save_and_report  # noqa: E402

from specformers import AutoModelForAudioClassification  # noqa: E402
from specformers.configuration.configuration_utils import config_from_preset  # noqa: E402
from specformers.families import family  # noqa: E402
from specformers.feature_extraction.feature_extraction_fbank import PRESETS  # noqa: E402
from specformers.training import train_classifier  # noqa: E402

CLASSES = 10
# family -> model, data and run sizes
SETTINGS = {
    "ast": {"model_type": "ast", "config": "ast-tiny", "overrides": VIT, "preset": "speech_commands",
            "frames": 96, "seconds": 1.0, "clips": 640, "batch": 32, "steps": 60, "skip": 10},
    "mast": {"model_type": "mast", "config": "mast-tiny", "overrides": {}, "preset": "speech_commands",
             "frames": 96, "seconds": 1.0, "clips": 640, "batch": 32, "steps": 60, "skip": 10},
    "asit": {"model_type": "asit", "config": "asit-tiny", "overrides": VIT, "preset": "speech_commands",
             "frames": 96, "seconds": 1.0, "clips": 640, "batch": 32, "steps": 60, "skip": 10},
    "ast-base": {"model_type": "ast", "config": "ast-base", "overrides": {}, "preset": "audioset",
                 "frames": 1024, "seconds": 10.0, "clips": 24, "batch": 2, "steps": 8, "skip": 2},
}


class StepClock(transformers.TrainerCallback):
    """Clips/s of a `Trainer` run from the end of step `skip` to its last step, and what an epoch's start costs."""

    def __init__(self, batch: int, skip: int):
        self.batch, self.skip, self.times, self.epoch_starts = batch, skip, [], []

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.epoch_starts.append(len(self.times))  # the step that ends next is the epoch's first

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter())

    def clips_per_second(self) -> float:
        timed = self.times[self.skip:]
        return self.batch * (len(timed) - 1) / (timed[-1] - timed[0])

    def epoch_start_ms(self) -> float:
        """How much longer the first step of every epoch after the first takes than the median step (workers
        starting, the epoch's first batch), median over those epochs."""
        steps = [after - before for before, after in zip(self.times, self.times[1:])]  # steps[i]: step i + 2
        firsts = [steps[start - 1] for start in self.epoch_starts[1:] if 0 < start <= len(steps)]
        return 1000 * (statistics.median(firsts) - statistics.median(steps)) if firsts else float("nan")


@contextlib.contextmanager
def clocked_trainers(batch: int, skip: int):
    """Every `Trainer` started inside gets a `StepClock`; yields the list of clocks."""
    clocks, train = [], transformers.Trainer.train

    def clocked_train(trainer, *args, **kwargs):
        clocks.append(StepClock(batch, skip))
        trainer.add_callback(clocks[-1])
        return train(trainer, *args, **kwargs)

    transformers.Trainer.train = clocked_train
    try:
        yield clocks
    finally:
        transformers.Trainer.train = train


def specformers_run(setting: dict, data: str, out: str, workers: int, *extra: str) -> None:
    overrides = ",".join(f"{key}={value}" for key, value in setting["overrides"].items())
    argv = ["--dataset_name", data, "--output_dir", out, "--model_type", setting["model_type"],
            "--config_name", setting["config"], "--feature_extractor_preset", setting["preset"],
            "--target_frames", setting["frames"], "--do_train", "--per_device_train_batch_size", setting["batch"],
            "--max_steps", setting["steps"], "--learning_rate", 3e-4, "--dataloader_num_workers", workers,
            "--save_strategy", "no", "--logging_steps", 10**6, "--report_to", "none", "--seed", 0,
            "--disable_tqdm", "true", *(["--config_overrides", overrides] if overrides else []), *extra]
    fresh_accelerate_state()
    train_classifier.main([str(a) for a in argv])


def transformers_model(setting: dict) -> transformers.ASTForAudioClassification:
    ours = our_config(setting)
    sizes = {key: getattr(ours, key) for key in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                                 "intermediate_size")}
    config = transformers.ASTConfig(**sizes, max_length=setting["frames"], num_mel_bins=128, num_labels=CLASSES,
                                    attn_implementation="sdpa")
    return transformers.ASTForAudioClassification(config)


def transformers_run(setting: dict, data: str, out: str, workers: int) -> None:
    """transformers' audio-classification example, reduced to its training path."""
    preset = PRESETS[setting["preset"]]
    extractor = transformers.ASTFeatureExtractor(max_length=setting["frames"], num_mel_bins=128,
                                                 mean=preset["norm_mean"], std=preset["norm_std"])
    dataset = load_dataset("audiofolder", data_dir=data, split="train")
    dataset = dataset.cast_column("audio", Audio(sampling_rate=extractor.sampling_rate))

    def train_transforms(batch):
        arrays = [audio["array"] for audio in batch["audio"]]
        inputs = extractor(arrays, sampling_rate=extractor.sampling_rate, return_tensors="pt")
        return {"input_values": inputs["input_values"], "labels": batch["label"]}

    dataset.set_transform(train_transforms, output_all_columns=False)
    args = transformers.TrainingArguments(
        output_dir=out, per_device_train_batch_size=setting["batch"], max_steps=setting["steps"], learning_rate=3e-4,
        dataloader_num_workers=workers, remove_unused_columns=False, save_strategy="no", logging_steps=10**6,
        report_to="none", seed=0, disable_tqdm=True)
    fresh_accelerate_state()
    transformers.Trainer(model=transformers_model(setting), args=args, train_dataset=dataset).train()


def our_config(setting: dict):
    config_class = family(setting["model_type"]).config_class
    return config_from_preset(config_class, setting["config"], {"target_frames": setting["frames"],
                                                                "num_labels": CLASSES, **setting["overrides"]})


def model_alone(model: torch.nn.Module, setting: dict, steps: int) -> float:
    """Clips/s of Trainer's step (forward, loss, backward, clipping to norm 1, fused AdamW) on tensors in memory."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=True)
    inputs = torch.randn(setting["batch"], setting["frames"], 128)
    labels = torch.randint(CLASSES, (setting["batch"],))

    def step():
        model(input_values=inputs, labels=labels).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return setting["batch"] * steps / (time.perf_counter() - start)


@contextlib.contextmanager
def busy_core():
    """Another process spinning in pure Python (no memory traffic to speak of) for the duration."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)  # let it start and be scheduled
        yield
    finally:
        spinner.kill()
        spinner.wait()


RESTARTED = "specformers, workers restarted each epoch"


def measure(name: str, setting: dict, rounds: int, workers: int, busy_core_baseline: bool = False,
            restart_baseline: bool = False) -> dict:
    """Clips/s of every side, each round in turn, and their medians."""
    sides = {"specformers": [], "specformers model alone": []}
    if busy_core_baseline:
        sides["specformers model alone, a core busy"] = []
    if restart_baseline:
        sides[RESTARTED] = []
    if setting["model_type"] == "ast":
        sides.update({"transformers": [], "transformers model alone": []})
    epoch_start_ms = {side: [] for side in ("specformers", RESTARTED, "transformers") if side in sides}
    alone_steps = setting["steps"] - setting["skip"]
    with tempfile.TemporaryDirectory() as folder:
        data = os.path.join(folder, "data")
        write_clips(data, setting["clips"], seconds=setting["seconds"], classes=CLASSES)
        for round_ in range(rounds):
            with clocked_trainers(setting["batch"], setting["skip"]) as clocks:
                specformers_run(setting, data, os.path.join(folder, f"ours{round_}"), workers)
                sides["specformers"].append(clocks[-1].clips_per_second())
                epoch_start_ms["specformers"].append(clocks[-1].epoch_start_ms())
                if restart_baseline:  # before persistent workers became the default
                    specformers_run(setting, data, os.path.join(folder, f"restarted{round_}"), workers,
                                    "--dataloader_persistent_workers", "false")
                    sides[RESTARTED].append(clocks[-1].clips_per_second())
                    epoch_start_ms[RESTARTED].append(clocks[-1].epoch_start_ms())
                if "transformers" in sides:
                    transformers_run(setting, data, os.path.join(folder, f"theirs{round_}"), workers)
                    sides["transformers"].append(clocks[-1].clips_per_second())
                    epoch_start_ms["transformers"].append(clocks[-1].epoch_start_ms())
            torch.manual_seed(0)
            model = AutoModelForAudioClassification.from_config(our_config(setting))
            sides["specformers model alone"].append(model_alone(model, setting, alone_steps))
            if busy_core_baseline:
                with busy_core():
                    sides["specformers model alone, a core busy"].append(model_alone(model, setting, alone_steps))
            if "transformers" in sides:
                sides["transformers model alone"].append(model_alone(transformers_model(setting), setting, alone_steps))
            print(f"[{name}] round {round_ + 1}: " + ", ".join(f"{side} {values[-1]:.3g}"
                                                               for side, values in sides.items()), flush=True)
    medians = {side: statistics.median(values) for side, values in sides.items()}
    result = {"setting": setting, "clips_per_second": sides, "medians": medians, "epoch_start_ms": epoch_start_ms,
              "epoch_start_ms_medians": {side: statistics.median(values) for side, values in epoch_start_ms.items()},
              "specformers_of_model_alone": medians["specformers"] / medians["specformers model alone"]}
    if busy_core_baseline:
        result["specformers_of_model_alone_a_core_busy"] = (medians["specformers"]
                                                           / medians["specformers model alone, a core busy"])
    if restart_baseline:
        result["restarted_of_model_alone"] = medians[RESTARTED] / medians["specformers model alone"]
        result["kept_over_restarted"] = medians["specformers"] / medians[RESTARTED]
    if "transformers" in sides:
        result["transformers_of_model_alone"] = medians["transformers"] / medians["transformers model alone"]
        result["specformers_over_transformers"] = medians["specformers"] / medians["transformers"]
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base_rounds", type=int, default=1, help="rounds for ast-base (minutes each on a CPU)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads for the models (default: all cores)")
    parser.add_argument("--busy_core_baseline", action="store_true",
                        help="also time each model alone beside a process spinning on another core")
    parser.add_argument("--restart_workers_baseline", action="store_true",
                        help="also run specformers with --dataloader_persistent_workers false (workers started "
                             "afresh each epoch, the default before)")
    parser.add_argument("--output", default="benchmark_runs/finetune_e2e.json")
    args = parser.parse_args(argv)
    transformers.logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {"machine": machine(), "workers": args.workers, "families": {}}
    for name in args.families:
        rounds = args.base_rounds if name == "ast-base" else args.rounds
        results["families"][name] = measure(name, SETTINGS[name], rounds, args.workers, args.busy_core_baseline,
                                            args.restart_workers_baseline)
    return save_and_report(results, args.output, report)


def report(results: dict) -> str:
    lines = [f"{results['machine']}; {results['workers']} DataLoader workers; medians of the rounds", "",
             "| family | frames | batch | specformers | its model alone | ratio | transformers way | its model alone "
             "| ratio | specformers / transformers |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results["families"].items():
        m, s = r["medians"], r["setting"]
        theirs = (f"{m['transformers']:.3g} | {m['transformers model alone']:.3g} | "
                  f"{r['transformers_of_model_alone']:.2f} | **{r['specformers_over_transformers']:.2f}x**"
                  if "transformers" in m else "| | |")
        lines.append(f"| {name} | {s['frames']} | {s['batch']} | {m['specformers']:.3g} | "
                     f"{m['specformers model alone']:.3g} | **{r['specformers_of_model_alone']:.2f}** | {theirs} |")
    busy = {name: r for name, r in results["families"].items() if "specformers_of_model_alone_a_core_busy" in r}
    if busy:
        lines += ["", "| family | its model alone, another core busy | specformers / that |", "|---|---|---|"]
        lines += [f"| {name} | {r['medians']['specformers model alone, a core busy']:.3g} | "
                  f"**{r['specformers_of_model_alone_a_core_busy']:.2f}** |" for name, r in busy.items()]
    restarted = {name: r for name, r in results["families"].items() if "kept_over_restarted" in r}
    if restarted:
        lines += ["", "| family | workers kept (default) | restarted each epoch | its ratio to the model alone "
                  "| kept / restarted | epoch start, kept | epoch start, restarted |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {name} | {r['medians']['specformers']:.3g} | {r['medians'][RESTARTED]:.3g} | "
                  f"{r['restarted_of_model_alone']:.2f} | **{r['kept_over_restarted']:.2f}x** | "
                  f"{r['epoch_start_ms_medians']['specformers']:.0f} ms | "
                  f"{r['epoch_start_ms_medians'][RESTARTED]:.0f} ms |" for name, r in restarted.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
