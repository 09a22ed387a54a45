"""ONNX Runtime (fp32 and dynamic int8) against PyTorch fp32: time per clip of the exported graphs, batch 1, same
process, interleaved; and the int8 accuracy change of a keyword classifier on a test split.

    python benchmarks/bench_onnx.py [--kws_model quickstart_output/asit-keywords] [--repeats 7]

Models: `ast-base` and `mast-small` at 1024 frames and `ast-tiny` and `mast-tiny` at the keyword size, 96 frames
(random weights: speed does not depend on them), and the trained keyword classifier (`--kws_model`, default the
quickstart's `asit-tiny`; `make quickstart` writes it), scored on `corpora/kws_mini`'s test split in fp32 and int8.
Writes `benchmark_runs/onnx/results.md`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import interleaved_medians, machine  # noqa: E402

from specformers import (  # noqa: E402
    ASTConfig,
    ASTForAudioClassification,
    MASTConfig,
    MASTForAudioClassification,
    SpectrogramFeatureExtractor,
)
from specformers.export_onnx import export_onnx, load_saved_model  # noqa: E402
from specformers.onnx_inference import ONNXAudioClassifier  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (model, extractor) of each timed row with random weights: the large ones at 1024 frames, tiny keyword ones at 96
RANDOM = {
    "ast-base, 1024 frames": (lambda: ASTForAudioClassification(ASTConfig.from_preset("ast-base", num_labels=527)),
                              SpectrogramFeatureExtractor),
    "mast-small, 1024 frames": (lambda: MASTForAudioClassification(MASTConfig.from_preset("mast-small",
                                                                                          num_labels=527)),
                                SpectrogramFeatureExtractor),
    "ast-tiny, 96 frames": (lambda: ASTForAudioClassification(ASTConfig.from_preset("ast-tiny", num_labels=6,
                                                                                    target_frames=96)),
                            lambda: SpectrogramFeatureExtractor.from_preset("speech_commands", target_frames=96)),
    "mast-tiny, 96 frames": (lambda: MASTForAudioClassification(MASTConfig.from_preset("mast-tiny", num_labels=6,
                                                                                       target_frames=96)),
                             lambda: SpectrogramFeatureExtractor.from_preset("speech_commands", target_frames=96)),
}


def timings(model_dir: str, onnx_dir: str, repeats: int) -> dict[str, float]:
    """Seconds per clip (batch 1) of PyTorch fp32, onnxruntime fp32 and onnxruntime int8."""
    model, _ = load_saved_model(model_dir)
    fp32, int8 = ONNXAudioClassifier(onnx_dir), ONNXAudioClassifier(onnx_dir, quantized=True)
    extractor = SpectrogramFeatureExtractor.from_pretrained(onnx_dir)
    features = torch.randn(1, extractor.target_frames, extractor.num_mel_bins)
    array = features.numpy()

    def run_torch():
        with torch.no_grad():
            model(input_values=features)

    return interleaved_medians({"torch fp32": run_torch,
                                "onnxruntime fp32": lambda: fp32.session.run(None, {"input_values": array}),
                                "onnxruntime int8": lambda: int8.session.run(None, {"input_values": array})},
                               repeats)


def keyword_accuracy(onnx_dir: str) -> tuple[float, float, int]:
    """(fp32 accuracy, int8 accuracy, clips) on corpora/kws_mini's test split."""
    from specformers.training.data import decode_audio_value, load_audio_dataset

    dataset = load_audio_dataset(os.path.join(ROOT, "corpora", "kws_mini"), None, "test", "audio")
    labels = dataset.features["label"]
    clips = [dict(zip(("array", "sampling_rate"), decode_audio_value(value))) for value in dataset["audio"]]
    truth = np.array([labels.int2str(label) if hasattr(labels, "int2str") else label for label in dataset["label"]])
    accuracies = []
    for quantized in (False, True):
        classifier = ONNXAudioClassifier(onnx_dir, quantized=quantized)
        predicted = np.array([result[0]["label"] for result in classifier(clips, top_k=1)])
        accuracies.append(float((predicted == truth).mean()))
    return accuracies[0], accuracies[1], len(clips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kws_model", default=os.path.join(ROOT, "quickstart_output", "asit-keywords"))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmark_runs", "onnx"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows, work = [], tempfile.mkdtemp()
    models = {name: os.path.join(work, str(i)) for i, name in enumerate(RANDOM)}
    for name, (build_model, build_extractor) in RANDOM.items():
        build_model().save_pretrained(models[name])
        build_extractor().save_pretrained(models[name])
    models["trained keywords (" + os.path.basename(args.kws_model.rstrip("/")) + "), 96 frames"] = args.kws_model
    for name, model_dir in models.items():
        onnx_dir = export_onnx(model_dir, os.path.join(work, f"{os.path.basename(model_dir)}-onnx"), quantize=True)
        seconds = timings(model_dir, onnx_dir, args.repeats)
        base = seconds["torch fp32"]
        rows.append(f"| {name} | {base * 1000:.1f} ms | "
                    + " | ".join(f"{seconds[k] * 1000:.1f} ms ({base / seconds[k]:.2f}x)"
                                 for k in ("onnxruntime fp32", "onnxruntime int8")) + " |")
        print(rows[-1], flush=True)
    fp32, int8, count = keyword_accuracy(onnx_dir)
    lines = [f"ONNX Runtime vs PyTorch, time per clip (batch 1, median of {args.repeats}); {machine()}", "",
             "| model | torch fp32 | onnxruntime fp32 (speed-up) | onnxruntime int8 (speed-up) |", "|---|---|---|---|",
             *rows, "", f"Keyword test split ({count} clips): accuracy fp32 {fp32:.3f}, int8 {int8:.3f} "
             f"(change {int8 - fp32:+.3f})."]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
