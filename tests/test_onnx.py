"""ONNX export of AST, MAST and ASiT (classifiers and an encoder): onnxruntime gives PyTorch's outputs at any batch
and length, the runtime wrapper gives the pipeline's scores, and dynamic int8 quantisation writes a graph that
runs."""

import json

import numpy as np
import onnxruntime  # the `onnx` extra, part of the `test` extra
import pytest
import torch
from audio_helpers import chirp, noisy_tone
from test_export_for_hub import LABELS
from test_export_for_hub import MODELS as TINY_MODELS  # one tiny classifier per family, 96 frames
from transformers import pipeline

from specformers import ASTConfig, ASTModel, MASTConfig, MASTForAudioClassification, SpectrogramFeatureExtractor
from specformers.export_onnx import export_onnx
from specformers.export_onnx import main as export_main
from specformers.onnx_inference import ONNXAudioClassifier

# MAST with two stages (the queries pooled in the second): the same pooling attention and relative positions as
# four, at half the export time (the benchmark exports mast-tiny and mast-small whole, with the same checks)
MODELS = {**TINY_MODELS, "mast": lambda: MASTForAudioClassification(MASTConfig.from_preset(
    "mast-tiny", depths=(1, 1), q_stride=(1, 2), id2label=LABELS, target_frames=96))}
CLIPS = [noisy_tone(16000), chirp(24000), 0.3 * np.random.default_rng(0).standard_normal(12000).astype(np.float32)]


def save(model, folder):
    model.save_pretrained(folder)
    SpectrogramFeatureExtractor.from_preset("speech_commands", target_frames=96).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("name", sorted(MODELS))
def test_onnx_classifier_gives_pytorchs_logits_and_the_pipelines_scores(name, tmp_path):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    folder = save(model, tmp_path / name)
    out = export_onnx(folder, tmp_path / f"{name}-onnx", quantize=name == "ast")
    classifier = ONNXAudioClassifier(out)
    extractor = SpectrogramFeatureExtractor.from_pretrained(folder)
    with torch.no_grad():
        expected = model(**extractor(CLIPS, sampling_rate=16000, return_tensors="pt")).logits.numpy()
    assert np.abs(classifier.logits(CLIPS, sampling_rate=16000) - expected).max() <= 1e-4
    for frames in (40, 250):  # any length: shorter and longer than the model's 96 (position fits in the graph)
        features = torch.randn(2, frames, 128)
        with torch.no_grad():
            reference_logits = model(features).logits.numpy()
        assert np.abs(classifier.session.run(None, {"input_values": features.numpy()})[0]
                      - reference_logits).max() <= 1e-4, frames
    reference = pipeline("audio-classification", model=str(folder))(CLIPS[1], top_k=3)
    got = classifier(CLIPS[1], sampling_rate=16000, top_k=3)
    assert [p["label"] for p in got] == [p["label"] for p in reference]
    assert [p["score"] for p in got] == pytest.approx([p["score"] for p in reference], abs=1e-5)
    assert len(classifier(CLIPS, sampling_rate=16000)) == 3  # a list of clips: a list of results
    assert json.loads((tmp_path / f"{name}-onnx" / "preprocessor_config.json").read_text())["target_frames"] == 96
    if name == "ast":
        quantized = ONNXAudioClassifier(out, quantized=True).logits(CLIPS, sampling_rate=16000)
        assert quantized.shape == expected.shape and np.isfinite(quantized).all()
        assert np.corrcoef(quantized.ravel(), expected.ravel())[0, 1] > 0.9  # int8 weights: close, not equal


def test_encoder_export_and_the_command(tmp_path, capsys):
    torch.manual_seed(0)
    encoder = ASTModel(ASTConfig.from_preset("ast-tiny", target_frames=96)).eval()
    folder = save(encoder, tmp_path / "encoder")
    export_main([str(folder), str(tmp_path / "onnx")])
    assert "ONNXAudioClassifier" in capsys.readouterr().out
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx"))
    assert [o.name for o in session.get_outputs()] == ["last_hidden_state", "pooler_output"]
    features = torch.randn(4, 128, 128)
    hidden, pooled = session.run(None, {"input_values": features.numpy()})
    with torch.no_grad():
        expected = encoder(features)
    assert np.abs(pooled - expected.pooler_output.numpy()).max() <= 1e-4
    assert np.abs(hidden - expected.last_hidden_state.numpy()).max() <= 1e-4
    with pytest.raises(ValueError, match="is an encoder"):
        ONNXAudioClassifier(tmp_path / "onnx")
    with pytest.raises(FileNotFoundError, match="export with --quantize"):
        ONNXAudioClassifier(tmp_path / "onnx", quantized=True)
