"""Audio corpora from `datasets` for the training scripts: loading (Hub ids, local audiofolder / parquet /
webdataset folders, map-style or streaming), robust decoding, and per-example indices for reproducible
augmentation."""

from __future__ import annotations

import multiprocessing
import os
from abc import ABC, abstractmethod
from functools import partial

import numpy as np
import torch
from datasets import Audio, IterableDataset, Value, load_dataset
from datasets.distributed import split_dataset_by_node
from datasets.exceptions import DatasetGenerationError

from ..feature_extraction.audio_input import AudioDecodeError, decode_audio_value  # noqa: F401 (also used from here)


def load_audio_dataset(name: str, config_name: str | None, split: str, audio_column: str, streaming: bool = False,
                       process_index: int = 0, num_processes: int = 1, cache_dir: str | None = None,
                       token: str | None = None):
    """A `datasets` split whose `audio_column` yields undecoded audio (decoded later by `decode_audio_value`, so that a
    corrupt file can be skipped instead of stopping the run).

    `name` is a Hub id or a local folder (audiofolder with or without metadata.csv, parquet files, webdataset
    `.tar` shards, CSV / JSON files whose audio column holds file paths, relative to the folder or absolute).
    Streaming datasets are split between processes with `split_dataset_by_node`. `cache_dir` and `token` go to
    `load_dataset`.
    """
    try:
        dataset = load_dataset(name, config_name, split=split, streaming=streaming, cache_dir=cache_dir, token=token)
    except DatasetGenerationError as err:
        raise ValueError(f"Could not read split {split!r} of {name!r}: {err.__cause__ or err}. Check that its data "
                         "files are readable and not empty.") from err
    except ValueError as err:
        if "Unknown split" not in str(err):
            raise
        raise ValueError(f"{err} Pass an existing split with --train_split_name / --eval_split_name.") from err
    columns = list(dataset.features) if dataset.features is not None else None
    if columns is not None and audio_column not in columns:
        raise ValueError(f"Dataset {name!r} (split {split!r}) has no column {audio_column!r}; its columns are "
                         f"{columns}. Pass the audio column with --audio_column_name.")
    if columns is not None and isinstance(dataset.features[audio_column], Audio):
        dataset = dataset.cast_column(audio_column, Audio(decode=False))
    elif os.path.isdir(name) and (columns is None or _is_text(dataset.features[audio_column])):
        # file paths (CSV / JSON metadata, AST's data files): relative ones are read from the dataset's folder
        dataset = dataset.map(partial(_paths_beside, name, audio_column))
    if isinstance(dataset, IterableDataset):
        if num_processes > 1:
            dataset = split_dataset_by_node(dataset, rank=process_index, world_size=num_processes)
    elif len(dataset) == 0:
        raise ValueError(f"Split {split!r} of {name!r} is empty; check the split name and the data files.")
    return dataset


def _is_text(feature) -> bool:
    return isinstance(feature, Value) and feature.dtype in ("string", "large_string")


def _paths_beside(folder: str, audio_column: str, example: dict) -> dict:
    """The example's audio path relative to `folder` when it is a relative path that does not exist as given (a
    stream's columns are unknown beforehand: anything else passes unchanged)."""
    path = example.get(audio_column)
    if not isinstance(path, str) or not path or os.path.isabs(path) or "://" in path or os.path.exists(path):
        return {}
    return {audio_column: os.path.join(folder, path)}


class IndexedExamples(torch.utils.data.Dataset):
    """A map-style `datasets.Dataset` yielding `(index, example)`, so augmentation can be seeded per example."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        return index, self.dataset[index]


class IndexedStream(torch.utils.data.IterableDataset):
    """A streaming `datasets.IterableDataset` yielding `(index, example)`; the index counts within this process's
    and DataLoader worker's share of the stream (datasets shards the stream across workers)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        offset = 0 if worker is None else worker.id << 40  # keep workers' indices apart
        for position, example in enumerate(self.dataset):
            yield offset + position, example

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)


class SharedEpoch:
    """Mixin of the collators: an `epoch` attribute held in shared memory, written by the training loop before each
    epoch and read by the DataLoader workers, so that workers kept from epoch to epoch (persistent workers, which
    spare a restart per epoch) draw each epoch's random numbers, not those of the epoch they started in."""

    @property
    def epoch(self) -> int:
        return self._shared_epoch.value if hasattr(self, "_shared_epoch") else 0

    @epoch.setter
    def epoch(self, value: int) -> None:
        if not hasattr(self, "_shared_epoch"):  # made before the workers start (they inherit or unpickle it)
            self._shared_epoch = multiprocessing.RawValue("q", 0)
        self._shared_epoch.value = int(value)


def example_rng(seed: int, *keys: int) -> np.random.Generator:
    """A random generator for `keys` (e.g. epoch, process, example index): the same however batches, workers or
    resumes fall."""
    return np.random.default_rng([seed, *keys])


def read_clips(items: list[tuple[int, dict]], audio_column: str, min_seconds: float
               ) -> tuple[list[tuple[int, np.ndarray, int]], int]:
    """`(index, example)` items -> the readable ones as `(index, mono float32 samples, rate)`, and how many were
    skipped (undecodable, non-finite, or shorter than `min_seconds`)."""
    clips, skipped = [], 0
    for index, example in items:
        try:
            audio, rate = decode_audio_value(example[audio_column])
        except AudioDecodeError:
            skipped += 1
            continue
        audio = audio.mean(axis=1) if audio.ndim == 2 else audio
        if not np.isfinite(audio).all() or len(audio) < min_seconds * rate:
            skipped += 1
            continue
        clips.append((index, audio, rate))
    return clips, skipped


CLIPS_BEFORE_JUDGING = 200  # unreadable clips are judged once this many were read (or at an epoch's end)


def check_unreadable_share(skipped: int, seen: int, max_fraction: float, data: str, epoch_end: bool = False) -> None:
    """Stop a run whose data is unreadable: when no clip could be read, or more than `max_fraction` of them were
    skipped, once `CLIPS_BEFORE_JUDGING` clips were seen or an epoch ended (a few corrupt clips in a long run are
    skipped and counted; a wrong column or a corpus FFmpeg cannot decode must not train for days on nothing)."""
    if not skipped or (seen < CLIPS_BEFORE_JUDGING and not epoch_end):
        return
    if skipped == seen:
        raise ValueError(f"None of the {seen} clips read so far from {data} could be decoded. Check that the audio "
                         "column (--audio_column_name) holds audio and that the files are audio FFmpeg can read "
                         "(datasets decodes them with torchcodec).")
    if skipped > max_fraction * seen:
        raise ValueError(f"{skipped} of the {seen} clips read so far from {data} could not be decoded or were "
                         f"empty, more than --max_skipped_fraction {max_fraction}. Repair or remove the corrupt "
                         "files, or raise --max_skipped_fraction (up to 1) to train on the readable ones.")


def crop(audio: np.ndarray, length: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """`length` samples of `audio` from a random place (`rng`) or from the start; the whole clip if shorter."""
    start = int(rng.integers(0, len(audio) - length + 1)) if rng is not None and len(audio) > length else 0
    return audio[start : start + length]


class ClipCollator(SharedEpoch, ABC):
    """What the pretraining collators share: decode a batch of examples to mono clips, skipping (and counting)
    the unreadable ones, random crops of the extractor's length, resampled; all random draws keyed by
    (seed, epoch, process, example) so that resumed and multi-worker runs see the same data.

    A subclass says what it draws in the workers (`draw`) and what it computes from the drawn crops (`finish`);
    calling the collator does both, or only `draw` when `features_on_device` (the training loop then calls
    `finish_on_device` with the batch on the accelerator)."""

    def __init__(self, extractor, audio_column: str, seed: int, process_index: int = 0,
                 features_on_device: bool = False):
        self.extractor, self.audio_column = extractor, audio_column
        self.seed, self.process_index, self.features_on_device = seed, process_index, features_on_device
        self.epoch = 0  # set by the training loop before each epoch
        self.crop_seconds = extractor.window_samples / extractor.sampling_rate

    def __call__(self, items: list[tuple[int, dict]]) -> dict:
        batch = self.draw(items)
        return batch if self.features_on_device or not batch["num_clips"] else self.finish(batch)

    @abstractmethod
    def draw(self, items: list[tuple[int, dict]]) -> dict:
        """`(index, example)` items -> the batch as the workers hand it over, with `num_clips` and `num_skipped`."""

    @abstractmethod
    def finish(self, batch: dict) -> dict:
        """A drawn batch (with at least one clip) -> the training batch."""

    def finish_on_device(self, batch: dict) -> dict:
        """The batch from the DataLoader, on the accelerator -> the training batch."""
        return self.finish(batch) if self.features_on_device else batch

    def rng(self, *keys: int) -> np.random.Generator:
        return example_rng(self.seed, self.epoch, self.process_index, *keys)

    def read(self, items: list[tuple[int, dict]]) -> tuple[list[tuple[int, np.ndarray, int]], int]:
        return read_clips(items, self.audio_column, self.extractor.frame_length_ms / 1000)

    def random_crop(self, audio: np.ndarray, rate: int, rng: np.random.Generator) -> dict:
        """A random window of the extractor's length (the whole clip if shorter), as an extractor input."""
        return {"array": crop(audio, int(round(self.crop_seconds * rate)), rng), "sampling_rate": rate}

    def waveforms(self, crops: list[dict]) -> dict:
        """Crops -> `waveforms` `(n, samples)` at the extractor's rate, zero-padded, and `num_samples` (a list)."""
        clips = [self.extractor.mono_at_sampling_rate(c["array"], c["sampling_rate"]) for c in crops]
        lengths = [len(clip) for clip in clips]
        return {"waveforms": torch.nn.utils.rnn.pad_sequence(clips, batch_first=True), "num_samples": lengths}

    def spectrograms(self, batch: dict) -> torch.Tensor:
        """Pop `waveforms` and `num_samples` from `batch` -> their normalised features `(n, frames, mel_bins)`, on
        the waveforms' device: what the extractor makes of the crops."""
        waveforms, lengths = batch.pop("waveforms"), batch.pop("num_samples")
        features = self.extractor.log_mel([waveform[:n] for waveform, n in zip(waveforms, lengths)])
        return self.extractor.normalize(features) if self.extractor.do_normalize else features
