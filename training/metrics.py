"""Evaluation metrics of the classifier script, through `evaluate` with the metric module shipped in
`metric_modules/` (single-label: accuracy, top-5 accuracy; multi-label: mAP, mAUC, d-prime)."""

from __future__ import annotations

import os

import evaluate
import numpy as np

from .classification_data import MULTI_LABEL, SINGLE_LABEL, readable_rows

METRIC_MODULE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metric_modules", "audio_classification")
CONFIGURATIONS = {SINGLE_LABEL: "single_label", MULTI_LABEL: "multi_label"}


def load_metric(problem_type: str) -> evaluate.EvaluationModule:
    """The shipped `evaluate` module, configured for `problem_type` (no network needed)."""
    if problem_type not in CONFIGURATIONS:
        raise ValueError(f"No metric for problem type {problem_type!r}; choose one of {sorted(CONFIGURATIONS)}.")
    return evaluate.load(METRIC_MODULE, config_name=CONFIGURATIONS[problem_type])


def make_compute_metrics(problem_type: str):
    """`Trainer`'s `compute_metrics`: `EvalPrediction` (logits `(clips, labels)`, targets) -> metrics dict."""
    metric = load_metric(problem_type)

    def compute_metrics(prediction) -> dict:
        logits, targets = np.asarray(prediction.predictions), np.asarray(prediction.label_ids)
        keep = readable_rows(targets)  # unreadable clips' placeholder rows are not scored
        logits, targets = logits[keep], targets[keep]
        if len(logits) == 0:
            raise ValueError("Evaluation saw no readable clip; check the evaluation split's audio.")
        return metric.compute(predictions=logits, references=targets)

    return compute_metrics
