"""Per-class report of a single-label evaluation: confusion matrix picture and per-class precision / recall / F1."""

from __future__ import annotations

import json
import os

import numpy as np


def confusion_matrix(predicted: np.ndarray, true: np.ndarray, num_labels: int) -> np.ndarray:
    """`(num_labels, num_labels)` counts; row = true class, column = predicted class."""
    counts = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(counts, (true, predicted), 1)
    return counts


def per_class_report(counts: np.ndarray, names: list[str]) -> dict:
    """Precision, recall, F1 and support of every class from a confusion matrix."""
    true_positive = np.diag(counts).astype(np.float64)
    support, predicted = counts.sum(1), counts.sum(0)
    precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0)
    recall = np.divide(true_positive, support, out=np.zeros_like(true_positive), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support)}


def write_confusion_report(logits: np.ndarray, labels: np.ndarray, names: list[str], output_dir: str,
                           prefix: str = "eval") -> tuple[str, str]:
    """Write `{prefix}_confusion_matrix.png` and `{prefix}_per_class.json` to `output_dir`; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = confusion_matrix(np.asarray(logits).argmax(-1), np.asarray(labels), len(names))
    report = per_class_report(counts, names)
    json_path = os.path.join(output_dir, f"{prefix}_per_class.json")
    with open(json_path, "w") as f:
        json.dump({"confusion_matrix": counts.tolist(), "labels": names, "per_class": report}, f, indent=2)

    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(names) + 2)
    figure, axes = plt.subplots(figsize=(size + 1.5, size))
    image = axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(names)), [f"{n} (recall {report[n]['recall']:.2f})" for n in names], fontsize=8)
    if len(names) <= 30:
        for (row, column), count in np.ndenumerate(counts):
            if count:
                axes.text(column, row, str(count), ha="center", va="center", fontsize=7,
                          color="white" if rates[row, column] > 0.5 else "black")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    axes.set(xlabel="predicted", ylabel="true", title=f"{prefix}: accuracy {accuracy:.3f} on {counts.sum()} clips")
    figure.colorbar(image, ax=axes, fraction=0.046, label="share of the true class")
    figure.tight_layout()
    png_path = os.path.join(output_dir, f"{prefix}_confusion_matrix.png")
    figure.savefig(png_path, dpi=110)
    plt.close(figure)
    return png_path, json_path
