"""Audio classification metrics for `evaluate`, from per-class scores (logits or probabilities).

- `single_label`: accuracy (the top-scored class is the reference) and top-k accuracy (the reference is among the k
  top-scored classes).
- `multi_label`, as AudioSet results are reported (AST, ASiT, MAST): per-class average precision and ROC AUC
  averaged over the classes that have both positive and negative examples (the others have neither value), and
  d-prime = sqrt(2) * inverse normal CDF of the mean AUC.

Shipped with specformers because the Hub's metric scripts cannot be fetched offline; load it with
`specformers.training.metrics.load_metric(problem_type)`.
"""

from statistics import NormalDist

import datasets
import evaluate
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

_INPUTS = """
Args:
    predictions: per-class scores, shape (examples, classes).
    references: `single_label`: class indices, shape (examples,); `multi_label`: 0/1 targets, (examples, classes).
    top_k (`single_label`): k of the top-k accuracy (default 5; left out when there are no more than k classes).
Returns:
    `single_label`: accuracy, and top_{k}_accuracy when there are more than k classes.
    `multi_label`: mAP, mAUC, d_prime, and scored_classes (how many classes the means cover).
"""

REFERENCES = {"single_label": datasets.Value("int64"), "multi_label": datasets.Sequence(datasets.Value("int8"))}


class AudioClassification(evaluate.Metric):
    def _info(self):
        if self.config_name not in REFERENCES:
            raise KeyError(f"Configuration {self.config_name!r} unknown; choose one of {sorted(REFERENCES)}.")
        return evaluate.MetricInfo(
            description=__doc__, citation="", inputs_description=_INPUTS,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float32")),
                                        "references": REFERENCES[self.config_name]}))

    def _compute(self, predictions, references, top_k=5):
        scores, targets = np.asarray(predictions, dtype=np.float64), np.asarray(references)
        if self.config_name == "single_label":
            return single_label_metrics(scores, targets, top_k)
        return multi_label_metrics(scores, targets)


def single_label_metrics(scores: np.ndarray, labels: np.ndarray, top_k: int) -> dict:
    results = {"accuracy": float((scores.argmax(-1) == labels).mean())}
    if scores.shape[-1] > top_k:
        # a class is in the top k when fewer than k classes score strictly higher than it
        higher = (scores > scores[np.arange(len(labels)), labels][:, None]).sum(-1)
        results[f"top_{top_k}_accuracy"] = float((higher < top_k).mean())
    return results


def multi_label_metrics(scores: np.ndarray, targets: np.ndarray) -> dict:
    positives = targets.sum(0)
    scored = np.flatnonzero((positives > 0) & (positives < len(targets)))
    if len(scored) == 0:
        raise ValueError("No class has both positive and negative examples: mAP and AUC are undefined.")
    precision = [average_precision_score(targets[:, c], scores[:, c]) for c in scored]
    mean_auc = float(np.mean([roc_auc_score(targets[:, c], scores[:, c]) for c in scored]))
    d_prime = np.sqrt(2) * NormalDist().inv_cdf(min(max(mean_auc, 1e-12), 1 - 1e-12))
    return {"mAP": float(np.mean(precision)), "mAUC": mean_auc, "d_prime": float(d_prime),
            "scored_classes": int(len(scored))}
