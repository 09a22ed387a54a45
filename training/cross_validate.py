"""K-fold cross-validation with train_classifier: for each fold, train on the others and evaluate on it, then report
every evaluation metric's mean and standard deviation over the folds (ESC-50: 5 folds, UrbanSound8K: 10).

    python -m specformers.training.cross_validate --folds 1,2,3,4,5 --fold_column_name fold \\
        --dataset_name ashraq/esc50 --label_column_name category --output_dir esc50-cv \\
        --model_type ast --do_train --do_eval ...     # any other train_classifier flag

Fold k's run goes to `OUTPUT_DIR/fold-k` (its model, card and results); `OUTPUT_DIR/cross_validation.json` holds
each fold's evaluation metrics and their mean and standard deviation. A run stopped part-way is continued by the
same command: folds already evaluated are read back from their `all_results.json`, not trained again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
from accelerate import PartialState

if __name__ == "__main__" and not __package__:  # run by path
    from specformers.training.run_by_path import run_as_module

    run_as_module(__file__)

from . import train_classifier

RESULTS = "cross_validation.json"


def parse_args(argv) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="specformers-cross-validate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", required=True, help="The fold values, comma-separated (ESC-50: 1,2,3,4,5).")
    parser.add_argument("--output_dir", required=True, help="Each fold's run goes to OUTPUT_DIR/fold-K.")
    parser.add_argument("--fold_column_name", required=True, help="The column of fold values (ESC-50: fold).")
    args, rest = parser.parse_known_args(argv)
    if "--eval_folds" in rest:
        parser.error("--eval_folds is set for each fold by cross_validate; leave it out.")
    if "--do_eval" not in rest:
        parser.error("pass --do_eval (and --do_train): each fold is scored on its held-out clips.")
    return args, rest


def summarise(per_fold: dict[str, dict]) -> dict:
    """Each fold's `eval_*` metrics -> their mean and (population) standard deviation over the folds."""
    names = sorted(set.intersection(*(set(metrics) for metrics in per_fold.values())))
    summary = {}
    for name in names:
        values = [metrics[name] for metrics in per_fold.values()]
        if name.startswith("eval_") and all(isinstance(v, (int, float)) for v in values):
            summary[name] = {"mean": float(np.mean(values)), "std": float(np.std(values))}
    return summary


def read_results(path: str) -> dict:
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def main(argv=None) -> dict:
    args, rest = parse_args([str(a) for a in (sys.argv[1:] if argv is None else argv)])
    per_fold = {}
    for fold in [f.strip() for f in args.folds.split(",") if f.strip()]:
        output_dir = os.path.join(args.output_dir, f"fold-{fold}")
        finished = read_results(os.path.join(output_dir, "all_results.json"))
        if any(name.startswith("eval_") for name in finished):  # evaluated: done before an interruption
            per_fold[fold] = finished
            continue
        per_fold[fold] = train_classifier.main([*rest, "--fold_column_name", args.fold_column_name,
                                                "--eval_folds", fold, "--output_dir", output_dir])
    result = {"folds": {fold: {k: v for k, v in m.items() if k.startswith("eval_")} for fold, m in per_fold.items()},
              "summary": summarise(per_fold)}
    if PartialState().is_main_process:  # under accelerate launch every process has the same results
        os.makedirs(args.output_dir, exist_ok=True)
        with open(os.path.join(args.output_dir, RESULTS), "w") as f:
            json.dump(result, f, indent=1)
        for name, stats in result["summary"].items():
            print(f"{name}: {stats['mean']:.4f} +- {stats['std']:.4f} over {len(per_fold)} folds")
    return result


def cli() -> None:
    main()
    train_classifier.end_processes()


if __name__ == "__main__":
    cli()
