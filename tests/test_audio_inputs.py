"""`datasets` audio as it comes (torchcodec AudioDecoders, undecoded dicts, path strings) through the extractor, its
statistics, the pipeline, training on a CSV of paths, and the normalisation-statistics command."""

import json

import numpy as np
import pytest
import soundfile
from audio_helpers import chirp, noisy_tone
from datasets import Audio, Dataset
from training_helpers import run_main
from transformers import pipeline

from specformers import ASTConfig, ASTForAudioClassification, SpectrogramFeatureExtractor
from specformers.training import norm_stats, train_classifier

RATES = (16000, 22050, 16000)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three wav files (one at 22.05 kHz, one stereo) and their samples as read with soundfile."""
    folder = tmp_path_factory.mktemp("clips")
    signals = [noisy_tone(16000, seed=1), chirp(33075, rate=22050), np.stack([noisy_tone(20000, seed=2)] * 2, 1)]
    paths = []
    for i, (signal, rate) in enumerate(zip(signals, RATES)):
        paths.append(str(folder / f"clip{i}.wav"))
        soundfile.write(paths[-1], signal, rate)
    return paths, [soundfile.read(path, dtype="float32")[0] for path in paths]


@pytest.fixture(scope="module")
def extractor():
    return SpectrogramFeatureExtractor.from_preset("speech_commands")


def as_arrays(extractor, samples):
    return extractor([{"array": a, "sampling_rate": r} for a, r in zip(samples, RATES)],
                     return_tensors="np")["input_values"]


def test_extractor_takes_decoders_undecoded_dicts_and_paths(clips, extractor, tmp_path):
    paths, samples = clips
    expected = as_arrays(extractor, samples)
    decoded = Dataset.from_dict({"audio": paths}).cast_column("audio", Audio())
    assert type(decoded[0]["audio"]).__name__ == "AudioDecoder"  # datasets >= 4
    forms = {
        "AudioDecoder": [decoded[i]["audio"] for i in range(3)],
        "path": paths,
        "{'path'}": [{"path": path, "bytes": None} for path in paths],
        "{'bytes'}": [{"bytes": open(path, "rb").read(), "path": None} for path in paths],
        "bytes": [open(path, "rb").read() for path in paths],
    }
    for name, batch in forms.items():
        np.testing.assert_allclose(extractor(batch, return_tensors="np")["input_values"], expected, atol=1e-6,
                                   err_msg=name)
        np.testing.assert_allclose(extractor(batch[1], return_tensors="np")["input_values"], expected[1:2],
                                   atol=1e-6, err_msg=name)  # one clip alone
    with pytest.raises(ValueError, match="Audio item 1 cannot be read: cannot decode .*missing.wav"):
        extractor([paths[0], str(tmp_path / "missing.wav")])
    with pytest.raises(ValueError, match="Unsupported audio input of type int.*AudioDecoders"):
        extractor(3)


def test_normalization_statistics_of_a_datasets_audio_column(clips, extractor):
    paths, samples = clips
    expected = extractor.compute_normalization_stats([{"array": a, "sampling_rate": r}
                                                      for a, r in zip(samples, RATES)])
    decoded = Dataset.from_dict({"audio": paths}).cast_column("audio", Audio())
    assert extractor.compute_normalization_stats(decoded["audio"]) == pytest.approx(expected, rel=1e-9)
    assert extractor.compute_normalization_stats(paths) == pytest.approx(expected, rel=1e-9)


def test_norm_stats_command_skips_and_counts_unreadable_clips(clips, extractor, tmp_path):
    paths, samples = clips
    folder = tmp_path / "data"
    (folder / "train").mkdir(parents=True)
    for path in paths:
        (folder / "train" / path.rsplit("/", 1)[1]).write_bytes(open(path, "rb").read())
    (folder / "train" / "broken.wav").write_bytes(b"RIFF\x00\x00 not audio")
    result = run_main(norm_stats.main, "--dataset_name", folder, "--feature_extractor_preset", "speech_commands",
                      "--output_file", tmp_path / "stats.json")
    expected = extractor.compute_normalization_stats([{"array": a, "sampling_rate": r}
                                                      for a, r in zip(samples, RATES)])
    assert result["clips"] == 3 and result["skipped_clips"] == 1
    assert result["norm_mean"] == pytest.approx(expected["norm_mean"], rel=1e-9)
    assert result["norm_std"] == pytest.approx(expected["norm_std"], rel=1e-9)
    assert json.loads((tmp_path / "stats.json").read_text()) == result
    for path in paths:
        (folder / "train" / path.rsplit("/", 1)[1]).write_bytes(b"RIFF broken too")
    with pytest.raises(ValueError, match="None of the 4 clips read so far from `.*data` \\(train split\\)"):
        run_main(norm_stats.main, "--dataset_name", folder)


def test_pipeline_takes_datasets_audio_and_refuses_chunking(clips, tmp_path):
    paths, samples = clips
    ASTForAudioClassification(ASTConfig.from_preset("ast-tiny", num_labels=2)).save_pretrained(tmp_path)
    SpectrogramFeatureExtractor.from_preset("speech_commands").save_pretrained(tmp_path)
    classify = pipeline("audio-classification", model=str(tmp_path))
    expected = classify({"array": samples[1], "sampling_rate": RATES[1]})
    decoded = Dataset.from_dict({"audio": paths}).cast_column("audio", Audio())
    for form in (decoded[1]["audio"], {"path": paths[1], "bytes": None}, {"bytes": open(paths[1], "rb").read()}):
        got = classify(form)
        assert [p["label"] for p in got] == [p["label"] for p in expected]
        assert [p["score"] for p in got] == pytest.approx([p["score"] for p in expected], abs=1e-5)
    with pytest.raises(ValueError, match="chunk_length_s: .* one window of 1.295 s .*classify_long_audio"):
        classify(samples[0], chunk_length_s=5)


@pytest.mark.parametrize("streaming", [False, True])
def test_classifier_trains_on_a_csv_of_relative_paths(streaming, tmp_path):
    """AST's own data files list paths: a CSV whose audio column holds paths relative to the dataset folder."""
    folder = tmp_path / "data"
    (folder / "wav").mkdir(parents=True)
    rows = ["audio,label"]
    for i in range(8):
        label = ("low", "high")[i % 2]
        soundfile.write(folder / "wav" / f"{i}.wav", noisy_tone(12000, freq=(300, 3000)[i % 2], seed=i), 16000)
        rows.append(f"wav/{i}.wav,{label}")
    (folder / "train.csv").write_text("\n".join(rows) + "\n")
    (folder / "validation.csv").write_text("\n".join(rows[:5]) + "\n")
    results = run_main(train_classifier.main, "--dataset_name", folder, "--output_dir", tmp_path / "out",
                       "--model_type", "ast", "--config_name", "ast-tiny", "--feature_extractor_preset",
                       "speech_commands", "--target_frames", 48, "--do_train", "--do_eval", "--max_steps", 2,
                       "--per_device_train_batch_size", 4, "--report_to", "none", "--save_strategy", "no",
                       *(["--streaming"] if streaming else []))
    assert results["train_skipped_clips"] == 0 and results["eval_skipped_clips"] == 0
    assert 0 <= results["eval_accuracy"] <= 1
