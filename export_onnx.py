"""Export a saved specformers model (AST, MAST or ASiT; classifier or encoder) to ONNX, checked against PyTorch with
onnxruntime before it is kept:

    python -m specformers.export_onnx MODEL_DIR OUT_DIR [--quantize] [--opset 18]

OUT_DIR gets `model.onnx` (input `input_values` `(batch, frames, mel_bins)`, any batch and any number of frames
from `MIN_FRAMES` up; output `logits`, or `last_hidden_state` and `pooler_output` for an encoder),
`model_int8.onnx` with `--quantize` (dynamic int8 quantisation of the weights, onnxruntime's), the model's
`config.json` and card, and the extractor's `preprocessor_config.json`. `specformers.onnx_inference.
ONNXAudioClassifier` runs it on audio. Needs `pip install "specformers[onnx]"`.

The graph fits the position embeddings to the input length as the model does (AST's centre cut or interpolation,
ASiT's bicubic resize, MAST's relative-position tables): the models compute that fit with tensor operations when
exported, so the choice is made in the graph, not fixed at the example's length.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig

from .export_for_hub import copy_card, require
from .families import FAMILIES, family_of
from .feature_extraction.feature_extraction_fbank import SpectrogramFeatureExtractor

ONNX_FILE, INT8_FILE = "model.onnx", "model_int8.onnx"
MIN_FRAMES = 32  # two patches along time for the default patchings (and MAST's pooled stages): what the exporter needs
CLASSIFIER_OUTPUTS, ENCODER_OUTPUTS = ("logits",), ("last_hidden_state", "pooler_output")


class PlainOutputs(nn.Module):
    """A model whose forward takes `input_values` and returns plain tensors: what the ONNX graph's outputs are."""

    def __init__(self, model: nn.Module, names: tuple[str, ...]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, input_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.model(input_values=input_values)
        return tuple(getattr(outputs, name) for name in self.names)


def load_saved_model(model_dir: str):
    """(the specformers classifier or encoder saved in `model_dir`, its output names), in eval mode."""
    config = AutoConfig.from_pretrained(model_dir)
    family = family_of(config.model_type)
    if family is None:
        raise ValueError(f"{model_dir} holds a {config.model_type!r} model; export_onnx exports the encoders and "
                         f"classifiers of {sorted(f.model_type for f in FAMILIES)}.")
    classifier = any(name.endswith("ForAudioClassification") for name in config.architectures or [])
    model_class = family.classifier_class if classifier else family.model_class
    return model_class.from_pretrained(model_dir).eval(), CLASSIFIER_OUTPUTS if classifier else ENCODER_OUTPUTS


def export_onnx(model_dir: str, out_dir: str, quantize: bool = False, opset: int = 18, tolerance: float = 1e-4
                ) -> str:
    """Export the model saved in `model_dir` (with its extractor) to `out_dir` (returned); see the module doc.
    A graph whose outputs differ from PyTorch's by more than `tolerance` on random features (batches of 1 to 3, at
    the model's length, a shorter and a longer one) is a RuntimeError."""
    import onnxruntime

    for name in ("config.json", "preprocessor_config.json"):
        require(model_dir, name)
    model, names = load_saved_model(model_dir)
    extractor = SpectrogramFeatureExtractor.from_pretrained(model_dir)
    module = PlainOutputs(model, names).eval()
    example = torch.randn(2, extractor.target_frames, extractor.num_mel_bins)
    axes = {0: torch.export.Dim("batch"), 1: torch.export.Dim("frames", min=MIN_FRAMES)}
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, ONNX_FILE)
    torch.onnx.export(module, (example,), path, dynamo=True, opset_version=opset, input_names=["input_values"],
                      output_names=list(names), dynamic_shapes={"input_values": axes}, verbose=False)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    difference = max_difference(module, session, extractor.target_frames, extractor.num_mel_bins)
    if difference > tolerance:
        raise RuntimeError(f"The ONNX graph's outputs differ from PyTorch's by {difference:.2e} (> {tolerance}); "
                           f"{path} is not to be trusted.")
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(path, os.path.join(out_dir, INT8_FILE), weight_type=QuantType.QInt8)
    model.config.save_pretrained(out_dir)
    extractor.save_pretrained(out_dir)
    copy_card(model_dir, out_dir)
    return out_dir


@torch.no_grad()
def max_difference(module: nn.Module, session, frames: int, mel_bins: int) -> float:
    """Largest difference between PyTorch's and onnxruntime's outputs, for batches of 1, 2 and 3 random clips of
    `frames` frames, fewer and more."""
    difference = 0.0
    for batch, length in ((1, frames), (2, max(MIN_FRAMES, frames // 2 + 3)), (3, 2 * frames + 5)):
        features = torch.randn(batch, length, mel_bins)
        expected = module(features)
        got = session.run(None, {"input_values": features.numpy()})
        difference = max(difference, *(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected)))
    return difference


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", help="A saved specformers classifier or encoder with its feature extractor.")
    parser.add_argument("out_dir", help="Where to write model.onnx and its configs.")
    parser.add_argument("--quantize", action="store_true", help="Also write model_int8.onnx (dynamic int8).")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18).")
    args = parser.parse_args(argv)
    out = export_onnx(args.model_dir, args.out_dir, args.quantize, args.opset)
    print(f"Exported {args.model_dir} -> {os.path.join(out, ONNX_FILE)}; run it with "
          f"specformers.onnx_inference.ONNXAudioClassifier({out!r}).")


if __name__ == "__main__":
    main()
