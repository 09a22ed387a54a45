"""Classify audio longer than a model's input window: slide the window with a chosen hop, score every window, and
aggregate the window scores into one result per clip (mean or max of the class probabilities)."""

from __future__ import annotations

import torch

from .pipelines import read_pipeline_input

AGGREGATIONS = ("mean", "max")


def window_starts(num_samples: int, window: int, hop: int) -> list[int]:
    """Start sample of each window: every `hop` samples, plus one window flush with the end so that the tail is
    always covered. A clip shorter than the window is one (padded) window."""
    if num_samples <= window:
        return [0]
    starts = list(range(0, num_samples - window + 1, hop))
    if starts[-1] + window < num_samples:
        starts.append(num_samples - window)
    return starts


def top_labels(probabilities: torch.Tensor, id2label: dict, top_k: int) -> list[dict]:
    """`(num_labels,)` probabilities -> the `top_k` best as `[{"label": ..., "score": ...}]`."""
    scores, indices = probabilities.topk(min(top_k, len(probabilities)))
    return [{"label": id2label[int(i)], "score": float(s)} for s, i in zip(scores, indices)]


@torch.no_grad()
def window_probabilities(model, feature_extractor, clip: torch.Tensor, starts: list[int], batch_size: int
                         ) -> torch.Tensor:
    """`(num_samples,)` clip at the extractor's rate -> `(num_windows, num_labels)` class probabilities (softmax,
    or sigmoid for a multi-label model)."""
    window = feature_extractor.window_samples
    parameter = next(model.parameters())
    multi_label = model.config.problem_type == "multi_label_classification"
    probabilities = []
    for first in range(0, len(starts), batch_size):
        pieces = [clip[start:start + window] for start in starts[first:first + batch_size]]
        inputs = feature_extractor(pieces, sampling_rate=feature_extractor.sampling_rate, return_tensors="pt")
        logits = model(input_values=inputs["input_values"].to(parameter.device, parameter.dtype)).logits.float()
        probabilities.append(logits.sigmoid() if multi_label else logits.softmax(-1))
    return torch.cat(probabilities).cpu()


def classify_long_audio(classifier, audio, *, hop_seconds: float | None = None, aggregate: str = "mean",
                        top_k: int = 5, batch_size: int = 16, feature_extractor=None):
    """Classify one long clip, or a list of clips, window by window.

    Args:
        classifier: an `audio-classification` pipeline of a specformers model, or the model itself (then pass
            `feature_extractor`).
        audio: one clip as the pipeline takes it (file path, bytes, array at the extractor's rate,
            `{"array": ..., "sampling_rate": ...}`), or a list of them.
        hop_seconds: distance between window starts (default: half a window). The window is the model's input
            length (`feature_extractor.target_frames` frames); a last window ends at the clip's end.
        aggregate: `"mean"` or `"max"` of each class's probability over the windows.
        top_k: labels kept, per window and in the aggregate.
        batch_size: windows per forward pass.

    Returns:
        For one clip a dict (a list of them for a list): `{"labels": [{"label", "score"}, ...]` (aggregated),
        `"windows": [{"start": s, "end": s, "labels": [...]}, ...]` (seconds), `"aggregate"`, `"duration"`}.
    """
    if aggregate not in AGGREGATIONS:
        raise ValueError(f"aggregate must be one of {AGGREGATIONS}, got {aggregate!r}.")
    model = getattr(classifier, "model", classifier)
    feature_extractor = feature_extractor or getattr(classifier, "feature_extractor", None)
    if feature_extractor is None or not hasattr(feature_extractor, "window_samples"):
        raise ValueError("classify_long_audio needs a specformers SpectrogramFeatureExtractor: pass a pipeline of "
                         "a specformers model, or the model and feature_extractor=.")
    rate, window = feature_extractor.sampling_rate, feature_extractor.window_samples
    hop = window // 2 if hop_seconds is None else round(hop_seconds * rate)
    if hop <= 0:
        raise ValueError(f"hop_seconds must be positive, got {hop_seconds}.")
    if isinstance(audio, (list, tuple)):
        return [classify_long_audio(model, clip, hop_seconds=hop_seconds, aggregate=aggregate, top_k=top_k,
                                    batch_size=batch_size, feature_extractor=feature_extractor) for clip in audio]

    samples, sampling_rate = read_pipeline_input(audio, rate)
    clip = feature_extractor.mono_at_sampling_rate(samples, sampling_rate)
    starts = window_starts(len(clip), window, hop)
    probabilities = window_probabilities(model.eval(), feature_extractor, clip, starts, batch_size)
    combined = probabilities.mean(0) if aggregate == "mean" else probabilities.amax(0)
    id2label = model.config.id2label
    return {
        "labels": top_labels(combined, id2label, top_k),
        "windows": [{"start": start / rate, "end": min(start + window, len(clip)) / rate,
                     "labels": top_labels(p, id2label, top_k)} for start, p in zip(starts, probabilities)],
        "aggregate": aggregate,
        "duration": len(clip) / rate,
    }
