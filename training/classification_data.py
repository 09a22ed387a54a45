"""Labelled audio for `train_classifier.py`: label names from the data, label encoding, and the collator that
turns examples into model inputs (decode, resample, crop, mixup, features, SpecAugment, noise) in the DataLoader
workers."""

from __future__ import annotations

import multiprocessing

import numpy as np
import torch
from datasets import ClassLabel, IterableDataset

from ..feature_extraction.augmentations import noise_and_roll, spec_augment, waveform_mixup
from ..feature_extraction.feature_extraction_fbank import resample_audio
from .data import SharedEpoch, crop, example_rng, read_clips

SINGLE_LABEL, MULTI_LABEL = "single_label_classification", "multi_label_classification"
IGNORED = -100  # the targets of an unreadable evaluation clip's placeholder row


def readable_rows(targets):
    """Which rows of `(batch,)` or `(batch, labels)` targets (torch or numpy) are real clips, not placeholders."""
    ignored = targets == IGNORED
    return ~ignored if ignored.ndim == 1 else ~ignored.all(1)


def check_column(dataset, column: str, split: str, flag: str) -> None:
    """A clear error when `column` is not in the split (datasets whose columns are known up front)."""
    columns = list(dataset.features) if dataset.features is not None else None
    if columns is not None and column not in columns:
        raise ValueError(f"The {split!r} split has no column {column!r}; its columns are {columns}. "
                         f"Pass the right one with {flag}.")


def class_names(feature) -> list[str] | None:
    """Names of a `ClassLabel` column, or of a list-of-`ClassLabel` column."""
    inner = getattr(feature, "feature", feature)
    return list(inner.names) if isinstance(inner, ClassLabel) else None


def as_multi_hot(targets: np.ndarray, num_labels: int) -> np.ndarray:
    """Encoded targets -> `(clips, num_labels)` 0/1 float32: class indices one-hot, multi-hot rows as they are."""
    if targets.ndim == 2:
        return targets.astype(np.float32)
    return np.eye(num_labels, dtype=np.float32)[targets.astype(np.int64)]


def discover_label_names(dataset, column: str, problem_type: str) -> list[str]:
    """The label names of a split: its `ClassLabel` names, or the sorted distinct values of the column (a multi-label
    value is a list of names or one comma-separated string). Streaming datasets are read once for this."""
    names = class_names(dataset.features[column]) if dataset.features is not None else None
    if names is not None:
        return names
    values = (example[column] for example in dataset.select_columns([column])) \
        if isinstance(dataset, IterableDataset) else iter(dataset.unique(column) if problem_type == SINGLE_LABEL
                                                           else dataset[column])
    found = set()
    for value in values:
        found.update(_split_names(value) if problem_type == MULTI_LABEL else [str(value)])
    if not found:
        raise ValueError(f"Column {column!r} holds no labels.")
    return sorted(found)


def _split_names(value) -> list[str]:
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    return [str(name) for name in value]


class LabelEncoder:
    """Label values of a split -> targets for the model whose labels are `names`: a class index (single-label) or a
    multi-hot float vector (multi-label). Integer values are `ClassLabel` indices of the split's `feature`."""

    def __init__(self, names: list[str], feature, problem_type: str, split: str):
        self.names, self.problem_type, self.split = list(names), problem_type, split
        self.index = {name: i for i, name in enumerate(self.names)}
        self.split_names = class_names(feature)

    def _name(self, value) -> str:
        if isinstance(value, (int, np.integer)) and self.split_names is not None:
            return self.split_names[value]
        return str(value)

    def _index(self, name: str) -> int:
        if name not in self.index:
            shown = ", ".join(self.names[:20]) + (", ..." if len(self.names) > 20 else "")
            raise ValueError(f"Label {name!r} in the {self.split!r} split is not one of the model's "
                             f"{len(self.names)} labels ({shown}). Evaluate on data with the labels the model "
                             "was trained on, or train on a split that includes this one.")
        return self.index[name]

    def encode(self, value) -> int | np.ndarray:
        if self.problem_type == SINGLE_LABEL:
            return self._index(self._name(value))
        target = np.zeros(len(self.names), dtype=np.float32)
        values = _split_names(value) if isinstance(value, str) else value
        target[[self._index(self._name(v)) for v in values]] = 1.0
        return target

    def multi_hot(self, values) -> np.ndarray:
        """Label values -> `(len(values), num_labels)` 0/1 targets, single-label ones too."""
        return as_multi_hot(np.array([self.encode(value) for value in values]), len(self.names))

    def check(self, dataset, column: str) -> None:
        """Fail early when a map-style split has a label outside the model's labels."""
        values = dataset.unique(column) if self.problem_type == SINGLE_LABEL else dataset[column]
        for value in values:
            self.encode(value)


class SkipCounter:
    """How many clips were skipped as unreadable (`value`) of how many were read (`seen`), counted across the
    DataLoader's worker processes."""

    def __init__(self):
        self._count = multiprocessing.Value("q", 0)
        self._seen = multiprocessing.Value("q", 0)

    def add(self, count: int, seen: int = 0) -> None:
        with self._count.get_lock():
            self._count.value += count
            self._seen.value += seen

    @property
    def value(self) -> int:
        return self._count.value

    @property
    def seen(self) -> int:
        return self._seen.value


class ClassificationCollator(SharedEpoch):
    """Examples -> `{"input_values": (batch, frames, mel_bins), "labels": (batch,) class indices or
    (batch, num_labels) targets}`, counting unreadable clips: training leaves them out, evaluation keeps a
    placeholder row with `IGNORED` targets (see `readable_rows`).

    Training (`augment` given): a random window of the extractor's length, waveform mixup with another clip of
    the batch (probability `augment.mixup`; single-label targets become mixed, soft), then SpecAugment
    (`freqm`/`timem`) and AST's noise + roll (`noise`) on the features. Evaluation: the window at the start.

    Training takes `(index, example)` items (`IndexedExamples`, `IndexedStream`): each clip's random draws come
    from `example_rng(seed, epoch, process, index)`, so they are the same however batches fall to DataLoader
    workers and whether or not the run was resumed. `epoch` is set before each epoch (`SetCollatorEpoch`).
    """

    def __init__(self, extractor, labels: LabelEncoder, audio_column: str, label_column: str,
                 skipped: SkipCounter, augment=None, seed: int = 0, process: int = 0):
        self.extractor, self.labels, self.augment, self.skipped = extractor, labels, augment, skipped
        self.audio_column, self.label_column = audio_column, label_column
        self.seed, self.process, self.epoch = seed, process, 0
        self.window = extractor.window_samples
        # AST masks with 0 before normalising; the features here are normalised
        self.mask_value = -extractor.norm_mean / (2 * extractor.norm_std) if extractor.do_normalize else 0.0

    def __call__(self, items: list) -> dict:
        """`items`: examples (dicts; evaluation only) or `(index, example)` pairs."""
        indexed = bool(items) and isinstance(items[0], tuple)
        if self.augment is not None and items and not indexed:
            raise TypeError("The training collator takes (index, example) items (IndexedExamples, IndexedStream), "
                            "which seed each clip's augmentation.")
        items = items if indexed else list(enumerate(items))
        clips, skipped = read_clips(items, self.audio_column, self.extractor.frame_length_ms / 1000)
        self.skipped.add(skipped, len(items))
        batch = self._collate(dict(items), clips)
        if skipped and self.augment is None:
            positions = {index: position for position, (index, _) in enumerate(items)}
            batch = self._with_placeholders(batch, [positions[index] for index, _, _ in clips], len(items))
        return batch

    def _collate(self, examples: dict[int, dict], clips: list) -> dict:
        """The readable clips' features and targets."""
        targets = [self.labels.encode(examples[index][self.label_column]) for index, _, _ in clips]
        if not clips:
            num_labels = len(self.labels.names)
            shape = (0,) if self.labels.problem_type == SINGLE_LABEL and not self.mixes else (0, num_labels)
            return {"input_values": torch.zeros(0, self.extractor.target_frames, self.extractor.num_mel_bins),
                    "labels": torch.zeros(shape, dtype=torch.long if len(shape) == 1 else torch.float32)}
        rngs = [example_rng(self.seed, self.epoch, self.process, index) if self.augment else None
                for index, _, _ in clips]
        audio = [self._at_model_rate(samples, clip_rate) for _, samples, clip_rate in clips]
        audio = [crop(samples, self.window, rng) for samples, rng in zip(audio, rngs)]
        if self.mixes:
            audio, targets = self._mixup(audio, targets, rngs)
        features = self.extractor(audio, sampling_rate=self.extractor.sampling_rate,
                                  return_tensors="pt")["input_values"]
        if self.augment:
            features = torch.stack([self._augment_features(f, rng) for f, rng in zip(features, rngs)])
        return {"input_values": features, "labels": self._stack(targets)}

    def _with_placeholders(self, batch: dict, readable: list[int], size: int) -> dict:
        """Evaluation keeps a row per example, so that every process gathers as many predictions as the sampler
        gave it: an unreadable clip's row holds constant features (SpecAugment's mask value) and `IGNORED` targets,
        which the loss and the metrics leave out."""
        features = torch.full((size, *batch["input_values"].shape[1:]), self.mask_value)
        labels = torch.full((size, *batch["labels"].shape[1:]), IGNORED, dtype=batch["labels"].dtype)
        features[readable], labels[readable] = batch["input_values"], batch["labels"]
        return {"input_values": features, "labels": labels}

    @property
    def mixes(self) -> bool:
        return bool(self.augment and self.augment.mixup > 0)

    def _at_model_rate(self, audio: np.ndarray, rate: int) -> np.ndarray:
        if rate == self.extractor.sampling_rate:
            return audio
        return resample_audio(torch.from_numpy(audio), rate, self.extractor.sampling_rate).numpy()

    def _one_hot(self, target) -> np.ndarray:
        if self.labels.problem_type == MULTI_LABEL:
            return target
        return np.eye(len(self.labels.names), dtype=np.float32)[target]

    def _mixup(self, audio: list[np.ndarray], targets: list, rngs: list[np.random.Generator]):
        """Each clip is mixed with probability `mixup` with another clip of the batch (drawn with the clip's
        generator); targets become vectors."""
        vectors = [self._one_hot(t) for t in targets]
        mixed_audio, mixed_targets = [], []
        for i, (clip, vector, rng) in enumerate(zip(audio, vectors, rngs)):
            if len(audio) > 1 and rng.random() < self.augment.mixup:
                j = int(rng.choice([k for k in range(len(audio)) if k != i]))
                lam = float(rng.beta(10, 10))
                clip, vector = waveform_mixup(clip, audio[j], lam), lam * vector + (1 - lam) * vectors[j]
            mixed_audio.append(clip)
            mixed_targets.append(vector)
        return mixed_audio, mixed_targets

    def _augment_features(self, features: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        if self.augment.freqm or self.augment.timem:
            features = spec_augment(features, rng, self.augment.freqm, self.augment.timem, self.mask_value)
        if self.augment.noise:
            features = noise_and_roll(features, rng)
        return features

    @staticmethod
    def _stack(targets: list) -> torch.Tensor:
        if isinstance(targets[0], np.ndarray):
            return torch.from_numpy(np.stack(targets)).float()
        return torch.tensor(targets, dtype=torch.long)
