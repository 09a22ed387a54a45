"""Back to transformers' own AST: `to_transformers()` on the models and the extractor, and the export folder that
plain transformers loads in a Python where `import specformers` fails."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import transformers
from audio_helpers import chirp, noisy_tone
from test_export_for_hub import HIDE_SPECFORMERS

from specformers import ASTConfig, ASTForAudioClassification, ASTModel, SpectrogramFeatureExtractor
from specformers.export_transformers import export_transformers

LABELS = {0: "tone", 1: "sweep", 2: "hiss"}
CONFIGS = {"ast-tiny": {}, "no qkv bias, 16 x 8 strides, 4 heads": {"qkv_bias": False, "patch_stride": (16, 8),
                                                                    "num_attention_heads": 4}}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_to_transformers_gives_transformers_ast_with_the_same_outputs(name):
    config = ASTConfig.from_preset("ast-tiny", id2label=LABELS, drop_path_rate=0.1, **CONFIGS[name])
    features = torch.randn(2, config.target_frames, 128)
    classifier = ASTForAudioClassification(config).eval()
    native = classifier.to_transformers()
    assert type(native) is transformers.ASTForAudioClassification and not native.training
    assert native.config.model_type == "audio-spectrogram-transformer" and native.config.id2label == LABELS
    with torch.no_grad():
        torch.testing.assert_close(native(features).logits, classifier(features).logits, atol=1e-4, rtol=0)
    encoder = ASTModel(config)
    encoder.load_state_dict(classifier.vit.state_dict())
    native_encoder = encoder.train().to_transformers()
    assert type(native_encoder) is transformers.ASTModel and native_encoder.training  # the mode it was in
    with torch.no_grad():
        ours, theirs = encoder.eval()(features), native_encoder.eval()(features)
    torch.testing.assert_close(theirs.last_hidden_state, ours.last_hidden_state, atol=1e-4, rtol=0)
    torch.testing.assert_close(theirs.pooler_output, ours.pooler_output, atol=1e-4, rtol=0)


def test_round_trip_through_transformers_keeps_every_weight(tmp_path):
    classifier = ASTForAudioClassification(ASTConfig.from_preset("ast-tiny", id2label=LABELS)).eval()
    classifier.to_transformers().save_pretrained(tmp_path)
    back = ASTForAudioClassification.from_pretrained(tmp_path)  # converts transformers' checkpoint on the fly
    ours, again = classifier.state_dict(), back.state_dict()
    assert ours.keys() == again.keys()
    for key in ours:
        assert torch.equal(ours[key], again[key]), key


def test_what_transformers_ast_cannot_represent_is_refused(tmp_path):
    for field, value in (("token_order", "time_major"), ("pooling", "mean"), ("num_prefix_tokens", 1)):
        with pytest.raises(ValueError, match=f"this config has {{'{field}': {value!r}}}"):
            ASTModel(ASTConfig.from_preset("ast-tiny", **{field: value})).to_transformers()
    with pytest.raises(ValueError, match="this extractor has {'sampling_rate': 32000, 'mel_high_freq': 16000.0}"):
        SpectrogramFeatureExtractor.from_preset("asit-32k").to_transformers()
    with pytest.raises(ValueError, match="'frame_shift_ms': 20"):
        SpectrogramFeatureExtractor(frame_shift_ms=20).to_transformers()


def test_transformers_extractor_gives_the_same_features():
    ours = SpectrogramFeatureExtractor.from_preset("esc50", target_frames=200)
    theirs = ours.to_transformers()
    assert type(theirs) is transformers.ASTFeatureExtractor and theirs.max_length == 200
    clips = [noisy_tone(24000, seed=1), chirp(40000) + noisy_tone(40000, seed=2)]
    expected = ours(clips, sampling_rate=16000, return_tensors="np")["input_values"]
    got = np.stack(theirs(clips, sampling_rate=16000, return_tensors="np")["input_values"])
    np.testing.assert_allclose(got, expected, atol=1e-3, rtol=0)


# Runs in a fresh interpreter where `import specformers` fails.
LOAD_WITH_PLAIN_TRANSFORMERS = HIDE_SPECFORMERS + textwrap.dedent("""
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

    folder, features_path, audio_path = sys.argv[1:]
    model = AutoModelForAudioClassification.from_pretrained(folder).eval()  # no trust_remote_code
    extractor = AutoFeatureExtractor.from_pretrained(folder)
    with torch.no_grad():
        logits = model(torch.from_numpy(np.load(features_path))).logits
    top = pipeline("audio-classification", model=folder)(np.load(audio_path), top_k=1)[0]
    print(json.dumps({"logits": logits.tolist(), "top": top["label"], "classes": [type(model).__module__,
                      type(extractor).__name__]}))
""")


def test_exported_folder_loads_with_plain_transformers(tmp_path):
    model_dir, out = tmp_path / "ours", tmp_path / "native"
    torch.manual_seed(0)
    classifier = ASTForAudioClassification(ASTConfig.from_preset("ast-tiny", id2label=LABELS)).eval()
    extractor = SpectrogramFeatureExtractor.from_preset("speech_commands")
    classifier.save_pretrained(model_dir)
    extractor.save_pretrained(model_dir)
    (model_dir / "README.md").write_text("the card")
    done = subprocess.run([sys.executable, "-m", "specformers.export_transformers", str(model_dir), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((out / "config.json").read_text())["model_type"] == "audio-spectrogram-transformer"
    assert "auto_map" not in json.loads((out / "config.json").read_text())
    assert (out / "README.md").read_text() == "the card"

    audio = noisy_tone(16000, seed=3)
    features = extractor([audio], sampling_rate=16000, return_tensors="np")["input_values"]
    np.save(tmp_path / "features.npy", features)
    np.save(tmp_path / "audio.npy", audio)
    env = {"PATH": "/usr/bin:/bin", "HF_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", LOAD_WITH_PLAIN_TRANSFORMERS, str(out),
                             str(tmp_path / "features.npy"), str(tmp_path / "audio.npy")],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["classes"] == ["transformers.models.audio_spectrogram_transformer.modeling_audio_spectrogram_"
                              "transformer", "ASTFeatureExtractor"]
    with torch.no_grad():
        expected = classifier(torch.from_numpy(features)).logits
    assert np.abs(np.array(got["logits"]) - expected.numpy()).max() <= 1e-4
    assert got["top"] == LABELS[int(expected.argmax())]


def test_export_refuses_other_models(tmp_path):
    from specformers import MASTConfig, MASTModel

    MASTModel(MASTConfig.from_preset("mast-tiny")).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="only specformers ASTs .*specformers.export_for_hub"):
        export_transformers(tmp_path, tmp_path / "out")
