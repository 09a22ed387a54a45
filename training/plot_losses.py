"""Plot a run's loss curves to a PNG: the pretraining scripts' `train_log.jsonl` (total loss and each term) or a
`train_classifier.py` run's `trainer_state.json` (training loss, evaluation loss and accuracy).

    python -m specformers.training.plot_losses RUN_DIR [--output RUN_DIR/loss_curves.png]
"""

from __future__ import annotations

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# keys of a log record that are not curves
NOT_CURVES = {"step", "epoch", "learning_rate", "skipped_clips", "teacher_temperature", "teacher_momentum",
              "grad_norm", "embedding_std", "collapse_warning"}
EVAL_CURVES = {"eval_loss", "eval_accuracy", "eval_mAP"}  # of the evaluation records (no timings or counts)


def is_curve(key: str, value) -> bool:
    if key in NOT_CURVES or isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not key.startswith("eval_") or key in EVAL_CURVES


def read_log(run_dir: str) -> list[dict]:
    """The run's log records, each with a `step`."""
    pretraining_log = os.path.join(run_dir, "train_log.jsonl")
    if os.path.isfile(pretraining_log):
        with open(pretraining_log) as f:
            return [json.loads(line) for line in f if line.strip()]
    trainer_state = os.path.join(run_dir, "trainer_state.json")
    if os.path.isfile(trainer_state):
        with open(trainer_state) as f:
            return [r for r in json.load(f)["log_history"] if "train_runtime" not in r]
    raise FileNotFoundError(f"{run_dir} has neither train_log.jsonl (pretraining scripts) nor trainer_state.json "
                            "(train_classifier.py): pass the --output_dir of a finished run.")


def curves(records: list[dict]) -> dict[str, tuple[list[int], list[float]]]:
    """name -> (steps, values) for every numeric loss or score in the records."""
    series = {}
    for record in records:
        for key, value in record.items():
            if not is_curve(key, value):
                continue
            steps, values = series.setdefault(key, ([], []))
            steps.append(record["step"])
            values.append(float(value))
    return series


def plot_losses(run_dir: str, output: str | None = None) -> str:
    """Write the curves of `run_dir` to `output` (default `run_dir/loss_curves.png`) and return its path: losses
    on the left, evaluation scores (if any) on the right."""
    series = curves(read_log(run_dir))
    scores = {k: v for k, v in series.items() if not k.endswith("loss") and k.startswith("eval_")}
    losses = {k: v for k, v in series.items() if k not in scores}
    figure, axes = plt.subplots(1, 2 if scores else 1, figsize=(11 if scores else 6, 4), squeeze=False)
    for name, (steps, values) in losses.items():
        axes[0, 0].plot(steps, values, label=name, linewidth=2 if name == "loss" else 1)
    axes[0, 0].set(xlabel="optimizer step", ylabel="loss", title=os.path.basename(os.path.normpath(run_dir)))
    axes[0, 0].legend()
    for name, (steps, values) in scores.items():
        axes[0, 1].plot(steps, values, marker="o", label=name)
    if scores:
        axes[0, 1].set(xlabel="optimizer step", ylabel="score", ylim=(0, 1), title="evaluation")
        axes[0, 1].legend()
    figure.tight_layout()
    output = output or os.path.join(run_dir, "loss_curves.png")
    figure.savefig(output, dpi=100)
    plt.close(figure)
    return output


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="--output_dir of a pretraining or train_classifier run")
    parser.add_argument("--output", help="PNG to write (default RUN_DIR/loss_curves.png)")
    args = parser.parse_args(argv)
    print(f"Loss curves: {plot_losses(args.run_dir, args.output)}")


if __name__ == "__main__":
    main()
