"""training/train_classifier.py end to end on generated tones: real `datasets` loading (audiofolder, parquet,
webdataset, streaming), real Trainer, real `accelerate launch` / `torchrun`, real pipeline and model card."""

import io
import json
import math
import multiprocessing
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile
import torch
import yaml
from audio_helpers import chirp, noisy_tone
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from training_helpers import run_main, wav_bytes
from transformers import AutoModelForAudioClassification, pipeline

from specformers import ASTConfig, ASTModel
from specformers.training import train_classifier

KINDS = ("noise", "sweep", "tone")
TINY = ["--per_device_train_batch_size", "6", "--per_device_eval_batch_size", "4", "--learning_rate", "3e-3",
        "--target_frames", "48", "--feature_extractor_preset", "speech_commands", "--logging_steps", "1",
        "--dataloader_num_workers", "0", "--report_to", "none", "--save_strategy", "no", "--seed", "0"]
SCRATCH = {"ast": ["--model_type", "ast", "--config_name", "ast-tiny"],
           "mast": ["--model_type", "mast", "--config_name", "mast-tiny"],
           "asit": ["--model_type", "asit", "--config_name", "asit-tiny"]}


def tone(kind: str, i: int, rate: int = 16000, seconds: float = 0.7) -> np.ndarray:
    """Clip `i` of a sound kind: a tone near 500 Hz, white noise, or a rising sweep."""
    samples = int(rate * seconds)
    if kind == "tone":
        return noisy_tone(samples, rate=rate, freq=500 * (1 + 0.05 * i), seed=i)
    if kind == "noise":
        return (0.3 * np.random.RandomState(i).standard_normal(samples)).astype(np.float32)
    return chirp(samples, rate=rate, low=100 + 20 * i, high=6000)


def write_split(folder, rows):
    """An audiofolder split: wav files and a metadata.csv of `(file, label)` rows."""
    folder.mkdir(parents=True)
    lines = ["file_name,label"]
    for name, clip, rate, label in rows:
        soundfile.write(folder / name, clip, rate)
        lines.append(f"{name},\"{label}\"")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    """Three kinds of sound: 6 training clips each, one more at 8 kHz and a corrupt file; 2 validation clips each."""
    root = tmp_path_factory.mktemp("tones")
    train = [(f"{label}{i}.wav", tone(label, i), 16000, label) for label in KINDS for i in range(6)]
    train.append(("tone_8k.wav", tone("tone", 9, rate=8000), 8000, "tone"))
    write_split(root / "train", train)
    (root / "train" / "broken.wav").write_bytes(b"RIFF\x00\x00 not audio at all")
    with open(root / "train" / "metadata.csv", "a") as f:
        f.write("broken.wav,tone\n")
    write_split(root / "validation", [(f"{label}{i}.wav", tone(label, 10 + i), 16000, label)
                                      for label in KINDS for i in range(2)])
    return root


@pytest.fixture(scope="module")
def trained(tones, tmp_path_factory):
    """A tiny AST trained 30 steps from scratch with every augmentation, and evaluated."""
    out = tmp_path_factory.mktemp("trained")
    metrics = classify("--dataset_name", tones, "--output_dir", out, *SCRATCH["ast"], "--do_train", "--do_eval",
                       "--max_steps", 30, "--freqm", 8, "--timem", 8, "--mixup", 0.3, "--noise")
    return out, metrics


def classify(*argv):
    return run_main(train_classifier.main, *argv, *TINY)


def test_trains_from_scratch_and_writes_results_card_and_report(trained, tones):
    out, metrics = trained
    results = json.loads((out / "all_results.json").read_text())
    assert results["train_skipped_clips"] in (7, 8)  # broken.wav, once in each of 7.5 epochs (4 batches each)
    assert results["eval_skipped_clips"] == 0
    assert results["eval_accuracy"] >= 5 / 6  # pitch classes are easy: it learned
    assert results["eval_accuracy"] == metrics["eval_accuracy"]
    model = AutoModelForAudioClassification.from_pretrained(out)
    assert sorted(model.config.label2id) == ["noise", "sweep", "tone"]  # discovered from the strings
    classify_clip = pipeline("audio-classification", model=str(out))
    top = classify_clip({"raw": tone("sweep", 3, rate=44100), "sampling_rate": 44100})[0]
    assert top["label"] == "sweep"

    card_text = (out / "README.md").read_text()
    metadata = yaml.safe_load(card_text.split("---")[1])
    parsed = ModelCard.load(out / "README.md").data  # huggingface_hub's own parsing, model-index included
    assert [(r.metric_type, r.metric_value) for r in parsed.eval_results] == [("accuracy", results["eval_accuracy"])]
    assert parsed.license == "other" and "No licence was chosen for these weights" in card_text  # none given
    for row in ("| learning_rate | 0.003 |", "| optimizer_steps | 30 |", "| mixup | 0.3 |", "| noise | True |"):
        assert row in card_text
    assert "Framework versions: specformers " in card_text and "pip install -e ." in card_text
    assert metadata["library_name"] == "transformers" and metadata["pipeline_tag"] == "audio-classification"
    scores = {m["type"]: m["value"] for m in metadata["model-index"][0]["results"][0]["metrics"]}
    assert scores == {"accuracy": results["eval_accuracy"]}  # 3 classes: no top-5 accuracy
    assert "train_classifier" in card_text and "@inproceedings{gong21b_interspeech" in card_text
    steps = json.loads((out / "trainer_state.json").read_text())["global_step"]
    assert f"split for {steps} optimizer steps" in card_text

    report = json.loads((out / "eval_per_class.json").read_text())
    assert sum(map(sum, report["confusion_matrix"])) == 6 and report["labels"] == ["noise", "sweep", "tone"]
    assert (out / "eval_confusion_matrix.png").stat().st_size > 10_000


def test_evaluation_only_reproduces_the_training_runs_scores(trained, tones, tmp_path):
    out, metrics = trained
    scores = classify("--model_name_or_path", out, "--dataset_name", tones, "--output_dir", tmp_path / "eval",
                      "--do_eval")
    assert scores["eval_accuracy"] == metrics["eval_accuracy"]
    assert scores["eval_loss"] == pytest.approx(metrics["eval_loss"], rel=1e-5)
    assert (tmp_path / "eval" / "eval_confusion_matrix.png").exists()
    assert not (tmp_path / "eval" / "model.safetensors").exists()


def test_evaluation_rejects_a_label_the_model_does_not_know(trained, tones, tmp_path):
    out, _ = trained
    data = tmp_path / "data"
    write_split(data / "validation", [("a.wav", tone("tone", 1), 16000, "tone"),
                                      ("b.wav", tone("sweep", 1), 16000, "whistle")])
    with pytest.raises(ValueError, match="Label 'whistle' in the 'validation' split is not one of the model's 3"):
        classify("--model_name_or_path", out, "--dataset_name", data, "--output_dir", tmp_path / "e", "--do_eval")


@pytest.mark.parametrize("model_type", ["mast", "asit"])
def test_every_model_type_trains(model_type, tones, tmp_path):
    metrics = classify("--dataset_name", tones, "--output_dir", tmp_path, *SCRATCH[model_type], "--do_train",
                       "--do_eval", "--max_steps", 3)
    model = AutoModelForAudioClassification.from_pretrained(tmp_path)
    assert model.config.model_type == f"specformers-{model_type}" and model.config.num_labels == 3
    assert 0 <= metrics["eval_accuracy"] <= 1 and np.isfinite(metrics["eval_loss"])


def test_fine_tunes_a_pretrained_encoder_and_checks_the_model_type(tones, tmp_path):
    encoder = tmp_path / "encoder"  # as the pretraining scripts save them, with a card that has a licence
    ASTModel(ASTConfig.from_preset("ast-tiny", target_frames=48)).save_pretrained(encoder)
    (encoder / "README.md").write_text("---\nlicense: cc-by-4.0\n---\nAn encoder.\n")
    classify("--model_name_or_path", encoder, "--dataset_name", tones, "--output_dir", tmp_path / "ft",
             "--do_train", "--max_steps", 2)
    card = ModelCard.load(tmp_path / "ft" / "README.md")
    assert card.data.base_model is None  # a local folder is no Hub id: named in the text only
    assert "fine-tuned from a local model (`encoder`)" in card.text
    assert card.data.license == "cc-by-4.0" and "No licence was chosen" not in card.text  # the base model's
    with pytest.raises(ValueError, match="holds a 'specformers-ast' model, not a 'specformers-mast' one for "
                                         "--model_type mast. Load it with ASTModel"):
        classify("--model_name_or_path", encoder, "--model_type", "mast", "--dataset_name", tones,
                 "--output_dir", tmp_path / "x", "--do_train", "--max_steps", 1)
    with pytest.raises(ValueError, match="has no label names"):
        classify("--model_name_or_path", encoder, "--dataset_name", tones, "--output_dir", tmp_path / "y",
                 "--do_eval")


def test_streaming_trains_on_max_steps(tones, tmp_path):
    metrics = classify("--dataset_name", tones, "--output_dir", tmp_path, *SCRATCH["ast"], "--streaming",
                       "--do_train", "--do_eval", "--max_steps", 4)
    assert metrics["train_skipped_clips"] >= 1  # the stream reached broken.wav
    assert metrics["eval_skipped_clips"] == 0 and 0 <= metrics["eval_accuracy"] <= 1
    assert sorted(AutoModelForAudioClassification.from_pretrained(tmp_path).config.label2id) == \
        ["noise", "sweep", "tone"]
    with pytest.raises(ValueError, match="pass --max_steps"):
        classify("--dataset_name", tones, "--output_dir", tmp_path / "x", *SCRATCH["ast"], "--streaming",
                 "--do_train")


def test_multi_label_from_parquet_with_audio_bytes(tmp_path):
    data = tmp_path / "parquet"
    data.mkdir()
    mixes = ["tone", "sweep", "tone,sweep", "noise", "noise,sweep", "tone,noise"] * 3
    for split, offset in (("train", 0), ("validation", 100)):
        clips = [sum(tone(name, offset + i) for name in labels.split(",")) for i, labels in enumerate(mixes)]
        table = pa.table({"audio": [{"bytes": wav_bytes(c), "path": None} for c in clips],
                          "tags": [labels.split(",") for labels in mixes]})
        pq.write_table(table, data / f"{split}.parquet")
    metrics = classify("--dataset_name", data, "--output_dir", tmp_path / "out", *SCRATCH["ast"],
                       "--problem_type", "multi_label_classification", "--label_column_name", "tags",
                       "--do_train", "--do_eval", "--max_steps", 6, "--mixup", 0.5, "--balanced_sampling")
    assert {"eval_mAP", "eval_mAUC", "eval_d_prime"} <= set(metrics)
    assert 0 <= metrics["eval_mAP"] <= 1 and 0 <= metrics["eval_mAUC"] <= 1
    model = AutoModelForAudioClassification.from_pretrained(tmp_path / "out")
    assert model.config.problem_type == "multi_label_classification" and model.config.num_labels == 3
    metadata = yaml.safe_load((tmp_path / "out" / "README.md").read_text().split("---")[1])
    scores = {m["type"]: m["value"] for m in metadata["model-index"][0]["results"][0]["metrics"]}
    assert scores == {"mAP": metrics["eval_mAP"], "roc_auc": metrics["eval_mAUC"], "d_prime": metrics["eval_d_prime"]}
    assert not (tmp_path / "out" / "eval_confusion_matrix.png").exists()  # single-label only


def test_webdataset_shards(tmp_path):
    shards = tmp_path / "wds"
    shards.mkdir()
    for split in ("train", "validation"):
        with tarfile.open(shards / f"{split}-000000.tar", "w") as tar:
            for i, label in enumerate(list(KINDS) * 2):
                for suffix, data in (("flac", _flac_bytes(tone(label, i))), ("txt", label.encode())):
                    info = tarfile.TarInfo(f"sample{i:03d}.{suffix}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    metrics = classify("--dataset_name", shards, "--output_dir", tmp_path / "out", *SCRATCH["ast"],
                       "--audio_column_name", "flac", "--label_column_name", "txt", "--do_train", "--do_eval",
                       "--max_steps", 2)
    assert metrics["train_skipped_clips"] == 0 and metrics["eval_samples_per_second"] > 0
    assert AutoModelForAudioClassification.from_pretrained(tmp_path / "out").config.num_labels == 3


def test_trains_in_bf16_and_saves_float32_weights(tones, tmp_path):
    classify("--dataset_name", tones, "--output_dir", tmp_path, *SCRATCH["ast"], "--do_train", "--max_steps", 12,
             "--bf16")
    history = json.loads((tmp_path / "trainer_state.json").read_text())["log_history"]
    losses = [record["loss"] for record in history if "loss" in record]
    assert np.isfinite(losses).all() and np.mean(losses[-3:]) < np.mean(losses[:3]), losses
    weights = load_file(tmp_path / "model.safetensors")
    assert {tensor.dtype for tensor in weights.values()} == {torch.float32}


def _flac_bytes(clip):
    buffer = io.BytesIO()
    soundfile.write(buffer, clip, 16000, format="FLAC")
    return buffer.getvalue()


def test_bad_datasets_say_what_to_fix(tones, tmp_path):
    common = ["--output_dir", tmp_path / "x", *SCRATCH["ast"], "--do_train", "--max_steps", 1]
    with pytest.raises(ValueError, match="has no column 'sound'.*--audio_column_name"):
        classify("--dataset_name", tones, "--audio_column_name", "sound", *common)
    with pytest.raises(ValueError, match="has no column 'genre'.*--label_column_name"):
        classify("--dataset_name", tones, "--label_column_name", "genre", *common)
    empty = tmp_path / "empty"
    empty.mkdir()
    pq.write_table(pa.table({"audio": pa.array([], pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                             "label": pa.array([], pa.string())}), empty / "train.parquet")
    with pytest.raises(ValueError, match="Could not read split 'train' of .*not empty"):
        classify("--dataset_name", empty, *common)
    with pytest.raises(ValueError, match="--eval_split_name"):
        classify("--dataset_name", tones, "--eval_split_name", "test", "--output_dir", tmp_path / "y",
                 *SCRATCH["ast"], "--do_eval")
    with pytest.raises(ValueError, match="Nothing to do"):
        classify("--dataset_name", tones, "--output_dir", tmp_path / "z", *SCRATCH["ast"])


@pytest.mark.several_processes
@pytest.mark.parametrize("launcher", ["accelerate", "torchrun"])
def test_two_processes(launcher, tones, tmp_path):
    """Two CPU processes share each step: an epoch takes half the steps of a single process. The streamed run
    splits the stream by node. An unreadable evaluation clip is counted and left out of the scores, which cover
    every readable clip once (7 examples: the sampler pads the processes' shares to 4 each)."""
    prefix = {"accelerate": ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"],
              "torchrun": ["-m", "torch.distributed.run", "--nproc_per_node", "2"]}[launcher]
    streaming = ["--streaming"] if launcher == "torchrun" else []
    data, out = tmp_path / "data", tmp_path / "ddp"
    shutil.copytree(tones, data)
    (data / "validation" / "broken.wav").write_bytes(b"RIFF\x00\x00 not audio at all")
    with open(data / "validation" / "metadata.csv", "a") as f:
        f.write("broken.wav,tone\n")
    command = [sys.executable, *prefix, "-m", "specformers.training.train_classifier", "--dataset_name", str(data),
               "--output_dir", str(out), *SCRATCH["ast"], "--do_train", "--do_eval", "--max_steps", "3",
               *streaming, *map(str, TINY)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((out / "trainer_state.json").read_text())
    results = json.loads((out / "all_results.json").read_text())
    assert state["global_step"] == 3
    if not streaming:  # each process reads 10 of the 20 clips: 2 steps an epoch (one process alone: 4)
        assert state["epoch"] == 1.5
    assert results["eval_skipped_clips"] >= 1 and 0 <= results["eval_accuracy"] <= 1
    report = json.loads((out / "eval_per_class.json").read_text())
    assert {name: row["support"] for name, row in report["per_class"].items()} == {kind: 2 for kind in KINDS}
    assert AutoModelForAudioClassification.from_pretrained(out).config.num_labels == 3


def test_arguments_from_a_json_or_yaml_file(tones, tmp_path):
    values = {"dataset_name": str(tones), "model_type": "ast", "config_name": "ast-tiny", "do_train": True,
              "max_steps": 1, "per_device_train_batch_size": 6, "target_frames": 48,
              "feature_extractor_preset": "speech_commands", "report_to": "none", "save_strategy": "no"}
    for name, text in (("args.json", json.dumps({**values, "output_dir": str(tmp_path / "j")})),
                       ("args.yaml", yaml.safe_dump({**values, "output_dir": str(tmp_path / "y")}))):
        (tmp_path / name).write_text(text)
        run_main(train_classifier.main, tmp_path / name)
    assert (tmp_path / "j" / "model.safetensors").exists() and (tmp_path / "y" / "model.safetensors").exists()
    (tmp_path / "bad.json").write_text(json.dumps({**values, "output_dir": "x", "no_such_argument": 1}))
    with pytest.raises(ValueError, match="no_such_argument"):
        run_main(train_classifier.main, tmp_path / "bad.json")


def test_dataloader_workers_are_kept_across_epochs_unless_asked_otherwise(tmp_path):
    """Persistent workers by default when there are workers (none to keep otherwise: torch refuses the flag), on the
    command line and in an arguments file; an explicit `false` wins."""
    base = ["--dataset_name", "d", "--output_dir", str(tmp_path), "--do_train"]

    def persistent(*argv):
        return train_classifier.parse_args([*base, *argv])[-1].dataloader_persistent_workers

    assert persistent("--dataloader_num_workers", "2")
    assert not persistent("--dataloader_num_workers", "0")
    assert not persistent("--dataloader_num_workers", "2", "--dataloader_persistent_workers", "false")
    assert not persistent("--dataloader_num_workers=2", "--dataloader_persistent_workers=false")
    (tmp_path / "args.json").write_text(json.dumps({"dataset_name": "d", "output_dir": str(tmp_path), "do_train": True,
                                                    "dataloader_num_workers": 2,
                                                    "dataloader_persistent_workers": False}))
    assert not train_classifier.parse_args([str(tmp_path / "args.json")])[-1].dataloader_persistent_workers
    help_text = " ".join(train_classifier.argument_parser().format_help().split())
    assert "turns this on whenever --dataloader_num_workers > 0" in help_text
    assert "will not shut down the worker processes" not in help_text  # TrainingArguments' text, default False


@pytest.mark.parametrize("streaming", [False, True])
def test_kept_workers_train_several_epochs_and_end_with_the_run(streaming, tones, tmp_path):
    """With a DataLoader worker (kept from epoch to epoch by default), a map-style or a streamed split trains
    past its first epochs and evaluates, and no worker outlives the run (they are ended while their queues are
    alive: left to the garbage collector, each would wait out torch's join timeout, and survive it, as they
    ignore SIGTERM)."""
    before = set(multiprocessing.active_children())
    length = ["--streaming", "--max_steps", 12] if streaming else ["--num_train_epochs", 3]  # the stream: 2.3 passes
    results = run_main(train_classifier.main, "--dataset_name", tones, "--output_dir", tmp_path / "out",
                       *SCRATCH["asit"], "--do_train", "--do_eval", *length, *TINY, "--dataloader_num_workers", 1)
    assert json.loads((tmp_path / "out" / "trainer_state.json").read_text())["epoch"] > 2  # a third epoch began
    assert math.isfinite(results["eval_loss"])
    assert set(multiprocessing.active_children()) <= before


def test_config_name_takes_a_folder_and_a_bad_one_fails_before_the_data(tones, tmp_path):
    ASTConfig.from_preset("ast-tiny", hidden_size=32, num_attention_heads=4).save_pretrained(tmp_path / "config")
    classify("--dataset_name", tones, "--output_dir", tmp_path / "out", "--model_type", "ast", "--config_name",
             tmp_path / "config", "--config_overrides", "num_hidden_layers=1", "--do_train", "--max_steps", 1)
    trained = AutoModelForAudioClassification.from_pretrained(tmp_path / "out").config
    assert (trained.hidden_size, trained.num_attention_heads, trained.num_hidden_layers) == (32, 4, 1)
    missing = tmp_path / "no-data-here"  # the config is read first: its error comes before the data's
    with pytest.raises(ValueError, match="Unknown ASTConfig preset 'ast-tinny'; choose one of"):
        classify("--dataset_name", missing, "--output_dir", tmp_path / "x", "--model_type", "ast", "--config_name",
                 "ast-tinny", "--do_train")
    with pytest.raises(ValueError, match="holds a 'specformers-ast' config, not a 'specformers-mast' one"):
        classify("--dataset_name", missing, "--output_dir", tmp_path / "x", "--model_type", "mast", "--config_name",
                 tmp_path / "config", "--do_train")
    help_text = train_classifier.argument_parser().format_help()
    for preset in ("ast-tiny", "mast-small-ast-stem", "asit-32k"):
        assert preset in help_text


def test_train_val_split_and_random_subsets(tones, tmp_path):
    """An audiofolder with train/ only evaluates on a share of it; --max_train_samples draws clips at random (the
    first 6 of this sorted folder are all 'noise')."""
    data = tmp_path / "data"
    shutil.copytree(tones / "train", data / "train")
    results = classify("--dataset_name", data, "--output_dir", tmp_path / "out", *SCRATCH["ast"], "--do_train",
                       "--do_eval", "--max_steps", 1, "--train_val_split", 0.25)
    report = json.loads((tmp_path / "out" / "eval_per_class.json").read_text())
    assert sum(row["support"] for row in report["per_class"].values()) + results["eval_skipped_clips"] == 5  # 20 / 4
    classify("--dataset_name", data, "--output_dir", tmp_path / "few", *SCRATCH["ast"], "--do_train",
             "--max_steps", 1, "--max_train_samples", 6)
    labels = AutoModelForAudioClassification.from_pretrained(tmp_path / "few").config.id2label.values()
    assert len(labels) >= 2
    with pytest.raises(ValueError, match="--train_val_split must be between 0 and 1"):
        classify("--dataset_name", data, "--output_dir", tmp_path / "x", *SCRATCH["ast"], "--do_train",
                 "--train_val_split", 1.5)


def test_label_smoothing_with_mixup_and_refused_for_multi_label(tones, tmp_path):
    metrics = classify("--dataset_name", tones, "--output_dir", tmp_path, *SCRATCH["ast"], "--do_train",
                       "--max_steps", 2, "--mixup", 1.0, "--label_smoothing_factor", 0.1)
    assert np.isfinite(metrics["train_loss"])
    with pytest.raises(ValueError, match="--label_smoothing_factor smooths one-of-N targets"):
        classify("--dataset_name", tones, "--output_dir", tmp_path / "m", *SCRATCH["ast"], "--do_train",
                 "--problem_type", "multi_label_classification", "--label_smoothing_factor", 0.1)
