"""pipeline("audio-classification") on specformers models: other rates, files, multi-channel, no torchaudio."""

import numpy as np
import pytest
import soundfile
import torch
import transformers
from audio_helpers import noisy_tone
from transformers import pipeline

from specformers import (
    ASTConfig,
    ASTForAudioClassification,
    SpectrogramAudioClassificationPipeline,
    SpectrogramFeatureExtractor,
)

LABELS = {0: "low", 1: "high"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny-ast")
    ASTForAudioClassification(ASTConfig.from_preset("ast-tiny", id2label=LABELS)).save_pretrained(directory)
    SpectrogramFeatureExtractor.from_preset("speech_commands").save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def classify(model_dir):
    return pipeline("audio-classification", model=str(model_dir))


def scores(predictions):
    return {p["label"]: p["score"] for p in predictions}


def expected_scores(model_dir, audio_16k):
    model = ASTForAudioClassification.from_pretrained(model_dir).eval()
    extractor = SpectrogramFeatureExtractor.from_pretrained(model_dir)
    probabilities = model(**extractor(audio_16k, sampling_rate=16000, return_tensors="pt")).logits.softmax(-1)[0]
    return {LABELS[i]: probabilities[i].item() for i in LABELS}


def test_pipeline_class_is_ours(classify):
    assert isinstance(classify, SpectrogramAudioClassificationPipeline)
    assert isinstance(classify.feature_extractor, SpectrogramFeatureExtractor)


def test_array_tensor_and_dict_inputs_agree(classify, model_dir):
    clip = noisy_tone(16000)
    expected = expected_scores(model_dir, clip)
    for form in (clip, torch.from_numpy(clip), {"array": clip, "sampling_rate": 16000},
                 {"raw": clip, "sampling_rate": 16000}):
        assert scores(classify(form)) == pytest.approx(expected, abs=1e-5)


def test_file_at_44k_stereo_int16_is_decoded_and_resampled(classify, model_dir, tmp_path):
    import soxr

    mono = noisy_tone(44100, rate=44100, noise=0.01)
    stereo = np.stack([mono, mono], axis=1)
    path = tmp_path / "clip.wav"
    soundfile.write(path, np.round(stereo * 32767).astype(np.int16), 44100, subtype="PCM_16")
    expected = expected_scores(model_dir, soxr.resample(np.round(mono * 32767) / 32768, 44100, 16000, quality="HQ"))
    assert scores(classify(str(path))) == pytest.approx(expected, abs=1e-4)
    assert scores(classify(path)) == pytest.approx(expected, abs=1e-4)
    assert scores(classify(path.read_bytes())) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("rate", [8000, 22050, 44100])
def test_other_rates_need_no_torchaudio(classify, rate):
    predictions = classify({"array": noisy_tone(rate, rate=rate), "sampling_rate": rate})
    assert {p["label"] for p in predictions} == set(LABELS.values())


def test_bad_pipeline_inputs_say_what_is_wrong(classify):
    with pytest.raises(ValueError, match="'sampling_rate'"):
        classify({"array": noisy_tone()})
    with pytest.raises(ValueError, match="contains NaN"):
        classify(np.full(16000, np.nan, dtype=np.float32))
    with pytest.raises(TypeError, match="Unsupported pipeline input"):
        classify(12345)


def test_transformers_ast_keeps_transformers_behaviour(tmp_path):
    config = transformers.ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                    max_length=128, num_labels=2)
    model = transformers.ASTForAudioClassification(config)
    model.save_pretrained(tmp_path)
    transformers.ASTFeatureExtractor(max_length=128).save_pretrained(tmp_path)
    classify = pipeline("audio-classification", model=str(tmp_path))
    assert isinstance(classify.model, transformers.ASTForAudioClassification)
    assert isinstance(classify.feature_extractor, transformers.ASTFeatureExtractor)
    clip = noisy_tone(16000)
    inputs = transformers.ASTFeatureExtractor(max_length=128)(clip, sampling_rate=16000, return_tensors="pt")
    expected = model.eval()(**inputs).logits.softmax(-1)[0]
    got = scores(classify(clip))
    assert got == pytest.approx({model.config.id2label[i]: expected[i].item() for i in range(2)}, abs=1e-5)
