"""Audio as `datasets` and users hand it over, decoded to samples: undecoded `{"bytes", "path"}` dicts, raw bytes,
file paths and torchcodec `AudioDecoder`s (what `datasets` >= 4 gives for an `Audio` column), besides decoded
`{"array", "sampling_rate"}` dicts. Shared by the feature extractor, the pipeline and the training data, and
self-contained (numpy and soundfile; torchcodec and datasets when there) so that it ships in remote-code exports."""

from __future__ import annotations

import io
import os

import numpy as np

try:
    import soundfile
except ImportError:  # a remote-code user without soundfile can still pass arrays
    soundfile = None


class AudioDecodeError(ValueError):
    """Audio that cannot be read (training skips and counts such a clip)."""


def is_encoded_audio(value) -> bool:
    """Whether `value` is audio still to be decoded (a path, bytes, an undecoded dict, a decoder), not samples."""
    if isinstance(value, (str, os.PathLike, bytes, bytearray)) or hasattr(value, "get_all_samples"):
        return True
    return (isinstance(value, dict) and "array" not in value and "raw" not in value
            and ("bytes" in value or "path" in value))


def decode_audio_value(value) -> tuple[np.ndarray, int]:
    """An audio value -> (float32 samples, `(samples,)` or `(samples, channels)`; sampling rate).

    Accepts decoded `{"array", "sampling_rate"}` dicts, undecoded `{"bytes", "path"}` dicts, raw bytes, file paths
    (local, or remote through `datasets` when installed) and torchcodec decoders. Files are read with soundfile,
    and with torchcodec for formats libsndfile lacks. Raises `AudioDecodeError` for anything unreadable.
    """
    if isinstance(value, dict) and "array" in value:
        return np.asarray(value["array"], dtype=np.float32), int(value["sampling_rate"])
    if hasattr(value, "get_all_samples"):  # a torchcodec AudioDecoder
        samples = value.get_all_samples()
        return samples.data.numpy().T, int(samples.sample_rate)
    if isinstance(value, (str, os.PathLike)):
        value = {"path": os.fspath(value)}
    data = value.get("bytes") if isinstance(value, dict) else value
    path = value.get("path") if isinstance(value, dict) else None
    try:
        if data is None and path is not None:
            data = _read_bytes(path)
        if not isinstance(data, (bytes, bytearray)):
            raise AudioDecodeError(f"no audio bytes or readable path in {type(value).__name__} value")
        if soundfile is None:
            audio, rate = _decode_with_torchcodec(data)
        else:
            try:
                audio, rate = soundfile.read(io.BytesIO(data), dtype="float32")
            except soundfile.LibsndfileError:  # a format libsndfile lacks: torchcodec (FFmpeg) may read it
                audio, rate = _decode_with_torchcodec(data)
    except AudioDecodeError:
        raise
    except Exception as err:  # any reader error means the same thing here: this clip is unusable
        raise AudioDecodeError(f"cannot decode {path or 'audio bytes'}: {err}") from err
    if audio.size == 0:
        raise AudioDecodeError(f"{path or 'audio'} has no samples")
    return audio, int(rate)


# The optional imports below sit in try blocks, which transformers' remote-code check does not count as requirements.


def _read_bytes(path: str) -> bytes:
    if os.path.exists(path) or "://" not in path:
        with open(path, "rb") as f:
            return f.read()
    try:  # remote (hf://, https://) paths of streamed datasets
        from datasets.utils.file_utils import xopen
    except ImportError as err:
        raise AudioDecodeError(f"reading {path} needs the datasets library") from err
    with xopen(path, "rb") as f:
        return f.read()


def _decode_with_torchcodec(data: bytes) -> tuple[np.ndarray, int]:
    try:
        from torchcodec.decoders import AudioDecoder
    except ImportError as err:
        raise AudioDecodeError("soundfile cannot read this audio and torchcodec (FFmpeg), which may, is not "
                               "installed") from err
    samples = AudioDecoder(data).get_all_samples()
    return samples.data.numpy().T, int(samples.sample_rate)
