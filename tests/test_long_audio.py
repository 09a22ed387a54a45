"""classify_long_audio: sliding windows over clips longer than the model's input, for all three model families."""

import numpy as np
import pytest
import soundfile
import torch
from audio_helpers import chirp, noisy_tone
from transformers import pipeline

from specformers import (
    ASiTConfig,
    ASiTForAudioClassification,
    ASTConfig,
    ASTForAudioClassification,
    MASTConfig,
    MASTForAudioClassification,
    SpectrogramFeatureExtractor,
    classify_long_audio,
)
from specformers.long_audio import window_starts

LABELS = {0: "tone", 1: "sweep", 2: "hiss"}
FRAMES = 48  # 0.49 s windows: a 3 s clip has several
MODELS = {
    "ast": lambda: ASTForAudioClassification(ASTConfig.from_preset("ast-tiny", id2label=LABELS,
                                                                   target_frames=FRAMES)),
    "mast": lambda: MASTForAudioClassification(MASTConfig.from_preset("mast-tiny", id2label=LABELS,
                                                                      target_frames=FRAMES)),
    "asit": lambda: ASiTForAudioClassification(ASiTConfig.from_preset("asit-tiny", id2label=LABELS,
                                                                      target_frames=FRAMES)),
}


@pytest.fixture(scope="module")
def extractor():
    return SpectrogramFeatureExtractor.from_preset("speech_commands", target_frames=FRAMES)


def long_clip(seconds: float = 3.0, rate: int = 16000) -> np.ndarray:
    """A tone, then a sweep, then a quieter tone: the windows see different sounds."""
    third = int(seconds * rate) // 3
    return np.concatenate([noisy_tone(third, rate), chirp(third, rate), 0.3 * noisy_tone(third, rate, freq=900)])


def test_window_starts_cover_the_clip():
    assert window_starts(100, 30, 20) == [0, 20, 40, 60, 70]  # a last window flush with the end
    assert window_starts(90, 30, 30) == [0, 30, 60]
    assert window_starts(20, 30, 10) == [0]  # shorter than a window: one padded window


@pytest.mark.parametrize("family", sorted(MODELS))
def test_windows_match_the_model_on_each_slice(family, extractor):
    torch.manual_seed(0)
    model = MODELS[family]().eval()
    clip = long_clip()
    result = classify_long_audio(model, clip, feature_extractor=extractor, hop_seconds=0.25, top_k=3,
                                 batch_size=4)
    window = extractor.window_samples
    starts = window_starts(len(clip), window, 4000)
    assert [w["start"] for w in result["windows"]] == [s / 16000 for s in starts]
    assert result["windows"][-1]["end"] == result["duration"] == len(clip) / 16000
    with torch.no_grad():
        pieces = [clip[s:s + window] for s in starts]
        expected = model(**extractor(pieces, sampling_rate=16000, return_tensors="pt")).logits.softmax(-1)
    for got, probabilities in zip(result["windows"], expected):
        assert {p["label"]: p["score"] for p in got["labels"]} == pytest.approx(
            {LABELS[i]: probabilities[i].item() for i in LABELS}, abs=1e-5)
    mean = expected.mean(0)
    assert {p["label"]: p["score"] for p in result["labels"]} == pytest.approx(
        {LABELS[i]: mean[i].item() for i in LABELS}, abs=1e-5)
    assert result["labels"][0]["score"] >= result["labels"][1]["score"] >= result["labels"][2]["score"]


def test_pipeline_files_other_rates_max_and_multi_label(extractor, tmp_path):
    torch.manual_seed(0)
    model = ASTForAudioClassification(ASTConfig.from_preset("ast-tiny", id2label=LABELS, target_frames=FRAMES,
                                                            problem_type="multi_label_classification"))
    model.save_pretrained(tmp_path / "m")
    extractor.save_pretrained(tmp_path / "m")
    classifier = pipeline("audio-classification", model=str(tmp_path / "m"))
    soundfile.write(tmp_path / "a.wav", long_clip(2.0, 44100), 44100)  # resampled to 16 kHz
    soundfile.write(tmp_path / "b.flac", long_clip(4.0), 16000)
    results = classify_long_audio(classifier, [tmp_path / "a.wav", str(tmp_path / "b.flac")], aggregate="max")
    assert [r["duration"] for r in results] == pytest.approx([2.0, 4.0], abs=1e-3)
    assert len(results[1]["windows"]) > len(results[0]["windows"]) > 1
    for result in results:
        best = {label: max(p["score"] for w in result["windows"] for p in w["labels"] if p["label"] == label)
                for label in LABELS.values()}
        assert {p["label"]: p["score"] for p in result["labels"]} == pytest.approx(best)
        scores = [p["score"] for w in result["windows"] for p in w["labels"]]
        assert sum(scores) > len(result["windows"]) * 1.01  # sigmoid, not softmax: scores do not sum to 1
    short = classify_long_audio(classifier, {"array": noisy_tone(4000), "sampling_rate": 16000})
    assert len(short["windows"]) == 1 and short["windows"][0]["end"] == 0.25


def test_bad_arguments_are_explained(extractor):
    model = MODELS["ast"]()
    with pytest.raises(ValueError, match="aggregate must be one of"):
        classify_long_audio(model, long_clip(), feature_extractor=extractor, aggregate="median")
    with pytest.raises(ValueError, match="hop_seconds must be positive"):
        classify_long_audio(model, long_clip(), feature_extractor=extractor, hop_seconds=0)
    with pytest.raises(ValueError, match="needs a specformers SpectrogramFeatureExtractor"):
        classify_long_audio(model, long_clip())
    with pytest.raises(ValueError, match="NaN"):
        classify_long_audio(model, np.full(16000, np.nan, dtype=np.float32), feature_extractor=extractor)
