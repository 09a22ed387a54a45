"""specformers-embed: one embedding per clip of a real `datasets` split, to parquet or numpy, streaming too."""

import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from test_train_classifier import tones  # noqa: F401 (a fixture)

from specformers import ASiTConfig, ASiTModel, SpectrogramFeatureExtractor, embed, hear
from specformers.feature_extraction.audio_input import decode_audio_value

BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("encoder")
    ASiTModel(ASiTConfig.from_preset("asit-tiny", target_frames=48)).save_pretrained(folder)
    SpectrogramFeatureExtractor.from_preset("speech_commands", target_frames=48).save_pretrained(folder)
    return folder


def test_parquet_rows_are_the_hear_scene_embeddings_of_each_clip(encoder, tones, tmp_path):  # noqa: F811
    output = tmp_path / "train.parquet"
    summary = embed.main(["--model_name_or_path", str(encoder), "--dataset_name", str(tones), "--split", "train",
                          "--output", str(output), "--batch_size", "4"])
    table = pq.read_table(output).to_pydict()
    assert summary["skipped_clips"] == 1 and summary["clips"] == len(table["id"]) == 19  # broken.wav skipped
    assert set(table["label"]) == {"noise", "sweep", "tone"}
    model = hear.load_model(str(encoder))
    for row in (0, 7, 18):
        path = table["id"][row]
        assert os.path.isfile(path)
        samples, rate = decode_audio_value(path)
        clip = model.feature_extractor.mono_at_sampling_rate(samples, rate)
        expected = model.scene_embeddings([clip])[0]
        np.testing.assert_allclose(table["embedding"][row], expected.numpy(), atol=1e-5, rtol=1e-5)
        assert table["label"][row] in os.path.basename(path) or "8k" in path


def test_the_command_streams_into_numpy(encoder, tones, tmp_path):  # noqa: F811
    output = tmp_path / "val.npz"
    argv = ["--model_name_or_path", encoder, "--dataset_name", tones, "--split", "validation", "--streaming",
            "--max_samples", 4, "--output", output, "--label_column_name", "label"]
    done = subprocess.run([os.path.join(BIN, "specformers-embed"), *map(str, argv)], capture_output=True, text=True,
                          timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "embedding" in done.stderr  # the progress bar
    arrays = np.load(output)
    assert arrays["embeddings"].shape == (4, ASiTConfig.from_preset("asit-tiny").hidden_size)
    assert arrays["embeddings"].dtype == np.float32 and torch.isfinite(torch.from_numpy(arrays["embeddings"])).all()
    assert len(arrays["ids"]) == len(arrays["labels"]) == 4 and set(arrays["labels"]) <= {"noise", "sweep", "tone"}


def test_bad_arguments_say_what_to_fix(encoder, tones, tmp_path):  # noqa: F811
    with pytest.raises(SystemExit):
        embed.main(["--model_name_or_path", str(encoder), "--dataset_name", str(tones), "--output", "x.csv"])
    with pytest.raises(ValueError, match="no column 'clip'"):
        embed.main(["--model_name_or_path", str(encoder), "--dataset_name", str(tones), "--output",
                    str(tmp_path / "x.npz"), "--id_column_name", "clip"])
