"""training/pretrain_asit.py end to end on generated audio: real `datasets` loading, real Accelerate."""

import io
import json
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from audio_helpers import noisy_tone
from training_helpers import read_log, run_main, wav_bytes

from specformers import ASiTForAudioClassification, ASiTForPreTraining, ASiTModel
from specformers.training import pretrain_asit
from specformers.training.data import decode_audio_value, load_audio_dataset

TINY = ["--config_name", "asit-tiny", "--per_device_train_batch_size", "4", "--learning_rate", "1e-3",
        "--warmup_steps", "2", "--teacher_temperature_warmup_steps", "3", "--logging_steps", "1",
        "--dataloader_num_workers", "0", "--target_frames", "96"]


def pretrain(*argv):
    return run_main(pretrain_asit.main, *argv)


def test_pretrains_skips_corrupt_clips_and_exports_the_teacher(corpus, tmp_path):
    out = tmp_path / "run"
    state = pretrain("--dataset_name", corpus, "--output_dir", out, "--max_steps", 4, *TINY,
                     "--per_device_train_batch_size", 7)
    assert state.step == 4 and state.skipped_clips == 2  # broken.wav, once in each of 2 epochs of 2 x 7 clips
    log = read_log(out)
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    for record in log:
        assert {"loss", "global", "local", "reconstruction", "learning_rate", "teacher_temperature"} <= set(record)
    assert log[0]["teacher_temperature"] == pytest.approx(0.04) and log[-1]["teacher_temperature"] == 0.07
    summary = json.loads((out / "pretraining_state.json").read_text())
    assert summary["skipped_clips"] == 2 and len(summary["parameter_checksums"]) == 1
    classifier = ASiTForAudioClassification.from_pretrained(out, num_labels=3)
    assert classifier.config.target_frames == 96
    assert (out / "preprocessor_config.json").exists()
    card = (out / "README.md").read_text()
    assert "python -m specformers.training.pretrain_asit --dataset_name" in card and "ASiT" in card
    assert "2 unreadable clips skipped" in card
    logits = classifier(torch.randn(2, 96, 128)).logits
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    checkpoint = out / "checkpoint-4"  # every run ends with one
    with pytest.raises(ValueError, match="ASiT pretraining checkpoint .* would take the student"):
        ASiTForAudioClassification.from_pretrained(checkpoint)
    teacher = ASiTForPreTraining.from_pretrained(checkpoint).teacher_vit  # the way out the message gives
    torch.testing.assert_close(teacher.state_dict(), ASiTModel.from_pretrained(out).state_dict(), rtol=0, atol=0)


def test_resume_reproduces_the_uninterrupted_run(corpus, tmp_path):
    common = ["--dataset_name", corpus, "--max_steps", 6, "--checkpointing_steps", 3, *TINY]
    pretrain(*common, "--output_dir", tmp_path / "whole")
    pretrain(*common, "--output_dir", tmp_path / "split", "--stop_after_steps", 3)
    assert not (tmp_path / "split" / "config.json").exists()  # interrupted: no final export yet
    pretrain(*common, "--output_dir", tmp_path / "split", "--resume_from_checkpoint", "latest",
             "--dataloader_num_workers", 2)
    whole, split = read_log(tmp_path / "whole"), read_log(tmp_path / "split")
    assert [r["step"] for r in split] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(whole, split):
        for term in ("loss", "global", "local", "reconstruction"):
            assert a[term] == b[term], (a["step"], term)


def test_streaming_with_gradient_accumulation(corpus, tmp_path):
    state = pretrain("--dataset_name", corpus, "--output_dir", tmp_path / "stream", "--streaming", "--max_steps", 3,
                     "--gradient_accumulation_steps", 2, *TINY)
    assert state.step == 3 and state.epoch >= 1  # 13 clips = 3 batches: the stream is read more than once
    assert (tmp_path / "stream" / "model.safetensors").exists()
    with pytest.raises(ValueError, match="give --max_steps"):
        pretrain("--dataset_name", corpus, "--output_dir", tmp_path / "nostop", "--streaming", *TINY)


def test_a_diverging_run_stops_naming_the_step(corpus, tmp_path):
    with pytest.raises(FloatingPointError, match=r"Non-finite loss at step \d+"):
        pretrain("--dataset_name", corpus, "--output_dir", tmp_path / "nan", "--max_steps", 30, *TINY,
                 "--learning_rate", "1e30", "--warmup_steps", "0", "--max_grad_norm", "0")


def test_bad_dataset_arguments_say_what_to_fix(corpus, tmp_path):
    with pytest.raises(ValueError, match="has no column 'sound'.*--audio_column_name"):
        pretrain("--dataset_name", corpus, "--output_dir", tmp_path / "x", "--audio_column_name", "sound",
                 "--max_steps", 1, *TINY)
    with pytest.raises(ValueError, match="Unknown ASiTConfig field"):
        pretrain("--dataset_name", corpus, "--output_dir", tmp_path / "y", "--max_steps", 1, *TINY,
                 "--config_overrides", "hidden_sise=32")


@pytest.mark.parametrize("variable, flag", [("ACCELERATE_USE_FSDP", "--use_fsdp"),
                                            ("ACCELERATE_USE_DEEPSPEED", "--use_deepspeed")])
def test_a_sharding_backend_is_refused_before_the_run(variable, flag, corpus, tmp_path, monkeypatch):
    """`accelerate launch --use_fsdp` sets the variable; on this CPU machine Accelerate would otherwise run DDP."""
    monkeypatch.setenv(variable, "true")
    with pytest.raises(ValueError, match=f"data-parallel only.*--multi_gpu.*without {flag}"):
        pretrain("--dataset_name", corpus, "--output_dir", tmp_path / "sharded", "--max_steps", 1, *TINY)
    assert not (tmp_path / "sharded").exists()


def test_parquet_and_webdataset_corpora_decode(tmp_path):
    clips = [noisy_tone(16000, seed=i) for i in range(3)]
    parquet_dir = tmp_path / "parquet"
    parquet_dir.mkdir()
    table = pa.table({"audio": [wav_bytes(c) for c in clips] + [b"not audio"], "id": [0, 1, 2, 3]})
    pq.write_table(table, parquet_dir / "train-00000.parquet")
    dataset = load_audio_dataset(str(parquet_dir), None, "train", "audio")
    audio, rate = decode_audio_value(dataset[1]["audio"])
    np.testing.assert_allclose(audio, clips[1], atol=1e-4)
    assert rate == 16000
    with pytest.raises(ValueError, match="cannot decode"):
        decode_audio_value(dataset[3]["audio"])

    shards = tmp_path / "webdataset"
    shards.mkdir()
    with tarfile.open(shards / "train-000000.tar", "w") as tar:
        for i, clip in enumerate(clips):
            data = wav_bytes(clip)
            info = tarfile.TarInfo(f"sample{i:03d}.wav")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    stream = load_audio_dataset(str(shards), None, "train", "wav", streaming=True)
    decoded = [decode_audio_value(example["wav"])[0] for example in stream]
    assert len(decoded) == 3
    np.testing.assert_allclose(decoded[2], clips[2], atol=1e-4)


def test_gmml_picture_of_a_checkpoint(corpus, tmp_path):
    import matplotlib.image

    from specformers.training import visualize_gmml

    out = tmp_path / "run"
    pretrain("--dataset_name", corpus, "--output_dir", out, "--max_steps", 2, *TINY)
    assert (out / "checkpoint-2" / "config.json").exists()  # the final state is always checkpointed
    picture = tmp_path / "gmml.png"
    visualize_gmml.main(["--checkpoint", str(out / "checkpoint-2"), "--audio", str(corpus / "train" / "tone03.wav"),
                         str(corpus / "train" / "tone_8k.wav"), "--output", str(picture)])
    image = matplotlib.image.imread(picture)
    assert image.shape[0] > 300 and image.shape[1] > 1000  # two rows of four panels
    assert image[..., :3].std() > 0.1  # not a blank canvas
    with pytest.raises(ValueError, match="could not be read"):
        visualize_gmml.main(["--checkpoint", str(out / "checkpoint-2"), "--audio",
                             str(corpus / "train" / "broken.wav"), "--output", str(picture)])


def test_continue_from_an_exported_encoder_in_bf16(corpus, tmp_path):
    first = tmp_path / "first"
    pretrain("--dataset_name", corpus, "--output_dir", first, "--max_steps", 1, *TINY)
    state = pretrain("--dataset_name", corpus, "--output_dir", tmp_path / "second", "--max_steps", 2, *TINY,
                     "--model_name_or_path", first, "--mixed_precision", "bf16")
    assert state.step == 2
    log = read_log(tmp_path / "second")
    assert all(np.isfinite(record["loss"]) for record in log)  # fresh heads and zero centres, not garbage
