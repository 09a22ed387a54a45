"""A corpus that cannot be read stops the run early, naming the data, instead of training on nothing: no readable
clip at all, or more than `--max_skipped_fraction` of them unreadable (pretraining and classification,
map-style and streamed)."""

import pytest
import soundfile
import test_pretrain_asit
import test_pretrain_ssmast
import test_train_classifier
from audio_helpers import noisy_tone
from training_helpers import run_main

from specformers.training import pretrain_asit, pretrain_ssmast, train_classifier

PRETRAINING = {"pretrain_asit": (pretrain_asit.main, test_pretrain_asit.TINY),
               "pretrain_ssmast": (pretrain_ssmast.main, test_pretrain_ssmast.TINY)}


def audiofolder(root, readable: int, unreadable: int):
    """A train split of `readable` tones and `unreadable` corrupt .wav files, labelled a/b."""
    train = root / "train"
    train.mkdir(parents=True)
    lines = ["file_name,label"]
    for i in range(readable + unreadable):
        name = f"clip{i:02d}.wav"
        if i < readable:
            soundfile.write(train / name, noisy_tone(16000, freq=300 + 100 * i, seed=i), 16000)
        else:
            (train / name).write_bytes(b"RIFF\x00\x00 not audio at all")
        lines.append(f"{name},{'ab'[i % 2]}")
    (train / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def unreadable(tmp_path_factory):
    return audiofolder(tmp_path_factory.mktemp("unreadable"), readable=0, unreadable=24)


@pytest.mark.parametrize("streaming", [False, True], ids=["map-style", "streamed"])
@pytest.mark.parametrize("script", PRETRAINING)
def test_pretraining_on_unreadable_data_stops_naming_it(script, streaming, unreadable, tmp_path):
    main, tiny = PRETRAINING[script]
    with pytest.raises(ValueError, match=r"None of the \d+ clips read so far from `.*unreadable.*` \(train split\)"):
        run_main(main, "--dataset_name", unreadable, "--output_dir", tmp_path / "out", "--max_steps", 1000, *tiny,
                 *(["--streaming"] if streaming else []))


def test_mostly_unreadable_data_stops_unless_allowed(tmp_path):
    data = audiofolder(tmp_path / "mostly", readable=4, unreadable=12)
    main, tiny = PRETRAINING["pretrain_asit"]
    argv = ["--dataset_name", data, "--max_steps", 3, *tiny]
    with pytest.raises(ValueError, match=r"12 of the 16 clips .* more than --max_skipped_fraction 0.5"):
        run_main(main, *argv, "--output_dir", tmp_path / "stopped")
    state = run_main(main, *argv, "--output_dir", tmp_path / "allowed", "--max_skipped_fraction", 0.8)
    assert state.step == 3 and state.skipped_clips > 0.5 * state.seen_clips  # past the default limit
    assert (tmp_path / "allowed" / "model.safetensors").exists()  # ran its 3 steps and exported the encoder


@pytest.mark.parametrize("streaming", [False, True], ids=["map-style", "streamed"])
def test_classifier_on_unreadable_data_stops_naming_it(streaming, unreadable, tmp_path):
    with pytest.raises(ValueError, match=r"None of the \d+ clips read so far from `.*unreadable.*` \(train split\)"):
        run_main(train_classifier.main, "--dataset_name", unreadable, "--output_dir", tmp_path / "out",
                 *test_train_classifier.SCRATCH["ast"], "--do_train", "--max_steps", 1000,
                 *test_train_classifier.TINY, *(["--streaming"] if streaming else []))
