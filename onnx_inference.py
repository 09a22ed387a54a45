"""Audio in, labels out, with onnxruntime: a folder written by `export_onnx`, run behind the specformers feature
extractor (needs `pip install "specformers[onnx]"`).

    classifier = ONNXAudioClassifier("kws-onnx")                    # or quantized=True for model_int8.onnx
    classifier("clip.wav")                                          # [{"label": ..., "score": ...}, ...]
"""

from __future__ import annotations

import json
import os

import numpy as np

from .export_onnx import INT8_FILE, ONNX_FILE
from .feature_extraction.feature_extraction_fbank import SpectrogramFeatureExtractor

MULTI_LABEL = "multi_label_classification"


class ONNXAudioClassifier:
    """An exported classifier: `__call__` takes audio as the extractor does (an array at `sampling_rate`, a
    `{"array", "sampling_rate"}` dict, a path, bytes, a `datasets` AudioDecoder) or a list of clips, and returns
    labels with scores as `pipeline("audio-classification")` does (softmax; sigmoid for multi-label models)."""

    def __init__(self, folder: str, quantized: bool = False, providers: list[str] | None = None):
        import onnxruntime

        path = os.path.join(folder, INT8_FILE if quantized else ONNX_FILE)
        if not os.path.isfile(path):
            hint = " (export with --quantize)" if quantized else ""
            raise FileNotFoundError(f"{path} does not exist: write it with python -m specformers.export_onnx{hint}.")
        self.session = onnxruntime.InferenceSession(path, providers=providers or ["CPUExecutionProvider"])
        if [o.name for o in self.session.get_outputs()] != ["logits"]:
            raise ValueError(f"{path} is an encoder (outputs {[o.name for o in self.session.get_outputs()]}); "
                             "ONNXAudioClassifier runs classifiers.")
        self.extractor = SpectrogramFeatureExtractor.from_pretrained(folder)
        with open(os.path.join(folder, "config.json")) as f:
            config = json.load(f)
        self.id2label = {int(index): label for index, label in config["id2label"].items()}
        self.multi_label = config.get("problem_type") == MULTI_LABEL

    def logits(self, audio, sampling_rate: int | None = None) -> np.ndarray:
        """`(batch, num_labels)` logits of a clip or a list of clips."""
        features = self.extractor(audio, sampling_rate=sampling_rate, return_tensors="np")["input_values"]
        return self.session.run(["logits"], {"input_values": features.astype(np.float32)})[0]

    def __call__(self, audio, sampling_rate: int | None = None, top_k: int = 5):
        """The `top_k` labels of one clip (`[{"label", "score"}, ...]`), or a list of them for a list of clips."""
        clips = (isinstance(audio, (list, tuple)) and not all(isinstance(x, (int, float)) for x in audio)
                 or getattr(audio, "ndim", 1) == 2)  # a list of clips, or a 2-D array of mono clips
        logits = self.logits(audio, sampling_rate)
        scores = 1 / (1 + np.exp(-logits)) if self.multi_label else softmax(logits)
        results = [[{"label": self.id2label[int(i)], "score": float(row[i])} for i in np.argsort(-row)[:top_k]]
                   for row in scores]
        return results if clips else results[0]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
