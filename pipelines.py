"""`pipeline("audio-classification")` for specformers models without torchaudio or ffmpeg.

transformers' pipeline resamples with torchaudio and decodes files with ffmpeg. For a model whose feature
extractor is a `SpectrogramFeatureExtractor`, this subclass hands the audio and its sampling rate straight to the
extractor (which resamples with soxr) and decodes files with soundfile. A specformers model given transformers'
`ASTFeatureExtractor` (e.g. the folder of a transformers AST it was converted from) gets the equivalent
`SpectrogramFeatureExtractor`, with the same length and statistics. Any other model keeps transformers' behaviour
unchanged.
"""

from __future__ import annotations

import io
import os
import sys

import numpy as np
import soundfile
import torch
from transformers import AutoModelForAudioClassification
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.audio_classification import AudioClassificationPipeline, ffmpeg_read

from .feature_extraction.audio_input import decode_audio_value, is_encoded_audio
from .feature_extraction.feature_extraction_fbank import SpectrogramFeatureExtractor
from .modeling.modeling_utils import SpecformersPreTrainedModel

_TRANSFORMERS_AST_EXTRACTOR_MODULE = ("transformers.models.audio_spectrogram_transformer."
                                      "feature_extraction_audio_spectrogram_transformer")


class SpectrogramAudioClassificationPipeline(AudioClassificationPipeline):
    """Audio classification; inputs as for transformers' pipeline: a file path (str or Path) or URL, bytes, an
    array or tensor at the extractor's rate, `{"array"|"raw": ..., "sampling_rate": ...}`, an undecoded
    `{"bytes", "path"}` dict, or a torchcodec `AudioDecoder` (datasets' audio). `chunk_length_s` is refused:
    long clips go through `classify_long_audio`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # looked up, not imported: transformers' AST extractor module imports torchaudio when it is installed
        ast_extractors = sys.modules.get(_TRANSFORMERS_AST_EXTRACTOR_MODULE)
        if (isinstance(self.model, SpecformersPreTrainedModel) and ast_extractors is not None
                and isinstance(self.feature_extractor, ast_extractors.ASTFeatureExtractor)):
            self.feature_extractor = SpectrogramFeatureExtractor.from_dict(self.feature_extractor.to_dict())

    def _handles_audio(self) -> bool:
        return isinstance(self.feature_extractor, SpectrogramFeatureExtractor)

    def check_model_type(self, supported_models):
        if not self._handles_audio():
            super().check_model_type(supported_models)

    def _sanitize_parameters(self, top_k=None, function_to_apply=None, **kwargs):
        chunking = sorted(name for name in ("chunk_length_s", "stride_length_s") if name in kwargs)
        if chunking and self._handles_audio():  # transformers' classification pipeline would ignore them
            raise ValueError(
                f"{', '.join(chunking)}: the audio-classification pipeline scores one window of "
                f"{self.feature_extractor.window_samples / self.feature_extractor.sampling_rate:g} s (the model's "
                "input) and does not chunk. To classify a longer clip window by window, use "
                "specformers.classify_long_audio(classifier, audio, hop_seconds=...).")
        return super()._sanitize_parameters(top_k=top_k, function_to_apply=function_to_apply, **kwargs)

    def preprocess(self, inputs):
        if not self._handles_audio():
            return super().preprocess(inputs)
        audio, sampling_rate = read_pipeline_input(inputs, self.feature_extractor.sampling_rate)
        processed = self.feature_extractor([audio], sampling_rate=sampling_rate, return_tensors="pt")
        if self.dtype is not None:
            processed = processed.to(dtype=self.dtype)
        return processed


def read_pipeline_input(inputs, default_rate: int) -> tuple[np.ndarray | torch.Tensor, int]:
    """Any input the pipeline accepts -> (samples, possibly multi-channel; their sampling rate). Arrays and tensors
    are taken to be at `default_rate`; files are read with soundfile (ffmpeg for formats libsndfile lacks)."""
    if isinstance(inputs, os.PathLike):
        inputs = os.fspath(inputs)
    if isinstance(inputs, str):
        if inputs.startswith(("http://", "https://")):
            import httpx

            inputs = httpx.get(inputs, follow_redirects=True).content
        else:
            with open(inputs, "rb") as f:
                inputs = f.read()
    if isinstance(inputs, bytes):
        try:
            audio, rate = soundfile.read(io.BytesIO(inputs), dtype="float32")
            return audio, rate
        except soundfile.LibsndfileError:  # a format libsndfile cannot read: let ffmpeg try
            return ffmpeg_read(inputs, default_rate), default_rate
    if is_encoded_audio(inputs) and not isinstance(inputs, (str, bytes)):  # {"bytes", "path"} dicts, decoders
        return decode_audio_value(inputs)
    if isinstance(inputs, dict):
        if "sampling_rate" not in inputs or not ("raw" in inputs or "array" in inputs):
            raise ValueError("A dict input needs a 'raw' or 'array' key with the samples and a 'sampling_rate' "
                             f"key; got keys {sorted(inputs)}.")
        audio = inputs["raw"] if "raw" in inputs else inputs["array"]
        return audio, inputs["sampling_rate"]
    if isinstance(inputs, (np.ndarray, torch.Tensor)):
        return inputs, default_rate
    raise TypeError(f"Unsupported pipeline input of type {type(inputs).__name__}: pass a file path, bytes, an "
                    "array or tensor, {'array': ..., 'sampling_rate': ...}, {'bytes': ..., 'path': ...} or an "
                    "AudioDecoder.")


def register_pipeline() -> None:
    """Make `pipeline("audio-classification")` build `SpectrogramAudioClassificationPipeline` (same models, same
    default): the task's entry in transformers' pipeline registry gets this class as its implementation. (Its
    `register_pipeline` would log that the task already exists on every `import specformers`.)"""
    task = PIPELINE_REGISTRY.supported_tasks["audio-classification"]
    if AutoModelForAudioClassification not in task["pt"]:
        raise RuntimeError("transformers' audio-classification task no longer builds AutoModelForAudioClassification "
                           "models; specformers' pipeline cannot take its place.")
    task["impl"] = SpectrogramAudioClassificationPipeline
