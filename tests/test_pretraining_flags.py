"""The pretraining scripts' run-level flags: --gradient_checkpointing (same losses, blocks recomputed),
--torch_compile (same losses, the model compiled), --features_on_device (same losses, the workers make no
spectrogram), --report_to with --tracker_project_name, and --log_level."""

import ast
import json
import logging
import struct

import datasets
import pytest
import torch
import transformers
from test_pretrain_asit import TINY
from test_pretrain_ssmast import TINY as SSMAST_TINY
from training_helpers import read_log, run_main

from specformers.modeling import spectrogram_vit
from specformers.training import data, pretrain_asit, pretrain_ssmast


def test_gradient_checkpointing_recomputes_the_blocks_and_changes_nothing_else(corpus, tmp_path, monkeypatch):
    calls = []  # attention calls in training mode: the student's (the EMA teacher runs in eval mode)
    forward = spectrogram_vit.SpectrogramViTAttention.forward

    def counted(self, *args, **kwargs):
        calls.append(self.training)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(spectrogram_vit.SpectrogramViTAttention, "forward", counted)
    runs = {}
    for flag in ([], ["--gradient_checkpointing"]):
        calls.clear()
        out = tmp_path / ("checkpointed" if flag else "plain")
        run_main(pretrain_asit.main, "--dataset_name", corpus, "--output_dir", out, "--max_steps", 3, *TINY, *flag)
        runs[bool(flag)] = (read_log(out), calls.count(True))
    (plain, plain_calls), (checkpointed, checkpointed_calls) = runs[False], runs[True]
    assert checkpointed_calls == 2 * plain_calls  # each student block runs again in the backward pass
    for a, b in zip(plain, checkpointed):
        for term in ("loss", "global", "local", "reconstruction"):
            assert b[term] == pytest.approx(a[term], rel=1e-5), (a["step"], term)


def test_torch_compile_compiles_the_model_and_changes_nothing_else(corpus, tmp_path, monkeypatch):
    """With aot_eager, which needs no C compiler (inductor works too: about 80 s to compile asit-tiny on 2 cores,
    too long for the suite)."""
    compiled = []
    compile_ = torch.compile

    def counted(model, **kwargs):
        compiled.append((type(model).__name__, kwargs.get("backend")))
        return compile_(model, **kwargs)

    monkeypatch.setattr(torch, "compile", counted)
    argv = ["--dataset_name", corpus, "--max_steps", 3, *TINY]
    run_main(pretrain_asit.main, *argv, "--output_dir", tmp_path / "eager")
    assert compiled == []
    run_main(pretrain_asit.main, *argv, "--output_dir", tmp_path / "compiled", "--torch_compile",
             "--torch_compile_backend", "aot_eager")
    assert compiled == [("ASiTForPreTraining", "aot_eager")]
    for a, b in zip(read_log(tmp_path / "eager"), read_log(tmp_path / "compiled")):
        for term in ("loss", "global", "local", "reconstruction"):
            assert b[term] == pytest.approx(a[term], rel=1e-5), (a["step"], term)
    assert (tmp_path / "compiled" / "model.safetensors").exists()  # the encoder export unwraps the compiled model


@pytest.mark.parametrize("script, tiny, terms", [
    (pretrain_asit, TINY, ("loss", "global", "local", "reconstruction")),
    (pretrain_ssmast, [*SSMAST_TINY, "--config_overrides", "mixup_position=after_crop"],
     ("loss", "embedding_std", "positive_similarity"))], ids=["asit", "ssmast"])
def test_features_on_device_equal_the_worker_path(script, tiny, terms, corpus, tmp_path, monkeypatch):
    """The same run with the views made in a DataLoader worker, and with the collator only decoding, cropping,
    resampling and drawing (what it hands over is checked) and the training loop making spectrograms, corruptions
    and crops."""
    handed_over = []
    collate = data.ClipCollator.__call__

    def recorded(self, items):
        batch = collate(self, items)
        handed_over.append({key for key, value in batch.items() if isinstance(value, torch.Tensor)})
        return batch

    argv = ["--dataset_name", corpus, "--max_steps", 3, *tiny, "--logging_steps", 1]
    run_main(script.main, *argv, "--output_dir", tmp_path / "workers", "--dataloader_num_workers", 1)
    monkeypatch.setattr(data.ClipCollator, "__call__", recorded)
    run_main(script.main, *argv, "--output_dir", tmp_path / "device", "--dataloader_num_workers", 0,
             "--features_on_device")
    assert handed_over and all("waveforms" in keys for keys in handed_over)
    assert not set().union(*handed_over) & {"clean_views", "corrupted_views", "clips", "views"}
    workers, device = read_log(tmp_path / "workers"), read_log(tmp_path / "device")
    assert [r["step"] for r in device] == [r["step"] for r in workers] == [1, 2, 3]
    for a, b in zip(workers, device):
        for term in terms:
            assert b[term] == pytest.approx(a[term], rel=1e-5), (a["step"], term)


def logged_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] from the TensorBoard event files in `folder` (TFRecord framing: length, its CRC,
    an `Event` message, its CRC)."""
    from tensorboardX.proto.event_pb2 import Event

    scalars = {}
    for path in folder.glob("events.out.tfevents.*"):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_report_to_tensorboard_under_the_project_name(corpus, tmp_path):
    out = tmp_path / "run"
    run_main(pretrain_asit.main, "--dataset_name", corpus, "--output_dir", out, "--max_steps", 3, *TINY,
             "--report_to", "tensorboard", "--tracker_project_name", "my-project", "--run_name", "first")
    scalars = logged_scalars(out / "my-project")
    log = read_log(out)
    assert [step for step, _ in scalars["loss"]] == [1, 2, 3]
    assert [value for _, value in scalars["loss"]] == pytest.approx([r["loss"] for r in log], rel=1e-6)
    assert "teacher_temperature" in scalars and "learning_rate" in scalars


@pytest.fixture
def restore_verbosity():
    levels = (transformers.utils.logging.get_verbosity(), datasets.utils.logging.get_verbosity(),
              logging.getLogger("specformers").level)
    yield
    transformers.utils.logging.set_verbosity(levels[0])
    datasets.utils.logging.set_verbosity(levels[1])
    logging.getLogger("specformers").setLevel(levels[2])


def test_log_level(corpus, tmp_path, caplog, restore_verbosity):
    caplog.set_level(logging.DEBUG)
    argv = ["--dataset_name", corpus, "--max_steps", 2, "--checkpointing_steps", 1, *TINY]
    run_main(pretrain_asit.main, *argv, "--output_dir", tmp_path / "info")
    saved = [r for r in caplog.records if r.name.startswith("specformers") and "Saved" in r.getMessage()]
    assert len(saved) == 3 and {r.levelname for r in saved} == {"INFO"}  # 2 checkpoints and the encoder
    caplog.clear()
    run_main(pretrain_asit.main, *argv, "--output_dir", tmp_path / "warning", "--log_level", "warning")
    assert not [r for r in caplog.records if r.name.startswith(("specformers", "transformers", "datasets"))
                and r.levelno < logging.WARNING]
    with pytest.raises(ValueError, match="--log_level must be one of"):
        run_main(pretrain_asit.main, *argv, "--output_dir", tmp_path / "x", "--log_level", "loud")


def test_arguments_from_a_json_file_and_a_config_folder(corpus, tmp_path):
    """As with transformers' examples: a JSON file as the only argument; --config_name a saved config's folder."""
    from specformers import ASiTConfig

    ASiTConfig.from_preset("asit-tiny", num_hidden_layers=1).save_pretrained(tmp_path / "config")
    values = {key.lstrip("-"): ast.literal_eval(value) for key, value in zip(TINY[::2], TINY[1::2])
              if key != "--config_name"}  # TINY's numbers, typed as JSON has them
    values.update(dataset_name=str(corpus), output_dir=str(tmp_path / "out"), max_steps=1,
                  config_name=str(tmp_path / "config"))
    (tmp_path / "args.json").write_text(json.dumps(values))
    state = run_main(pretrain_asit.main, tmp_path / "args.json")
    assert state.step == 1
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["num_hidden_layers"] == 1 and saved["target_frames"] == 96
