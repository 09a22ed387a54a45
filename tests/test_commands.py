"""The ways to start a script besides `python -m`, on the shipped corpus: the installed commands (setup.cfg's
console scripts) exit with status 0 on success (a one-step ASiT pretraining, a fine-tune of its encoder, the Hub
export) and non-zero on a wrong argument; the training scripts also run by their path, under `accelerate launch`
too."""

import json
import os
import subprocess
import sys

from specformers.quickstart import CORPUS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)  # pip puts the commands beside the interpreter of the environment
TINY = ["--dataset_name", CORPUS, "--feature_extractor_preset", "speech_commands", "--target_frames", "48",
        "--per_device_train_batch_size", "4", "--dataloader_num_workers", "0", "--seed", "0"]


def command(name: str, *argv) -> subprocess.CompletedProcess:
    return subprocess.run([os.path.join(BIN, name), *map(str, argv)], capture_output=True, text=True, timeout=300)


def test_commands_run_the_scripts_and_exit_cleanly(tmp_path):
    encoder, classifier, hub = tmp_path / "encoder", tmp_path / "classifier", tmp_path / "hub"
    done = command("specformers-pretrain-asit", *TINY, "--output_dir", encoder, "--config_name", "asit-tiny",
                   "--max_steps", 1, "--teacher_temperature_warmup_steps", 1)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((encoder / "config.json").read_text())["model_type"] == "specformers-asit"

    done = command("specformers-train-classifier", *TINY, "--model_name_or_path", encoder, "--output_dir",
                   classifier, "--do_train", "--do_eval", "--max_steps", 1, "--max_eval_samples", 8,
                   "--save_strategy", "no", "--report_to", "none")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "eval_accuracy" in json.loads((classifier / "all_results.json").read_text())

    done = command("specformers-export-for-hub", classifier, hub)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "auto_map" in json.loads((hub / "config.json").read_text())

    done = command("specformers-train-classifier", "--dataset_name", CORPUS, "--output_dir", tmp_path / "x",
                   "--no_such_flag", 1)
    assert done.returncode != 0 and "--no_such_flag" in done.stderr


def test_training_scripts_run_by_their_path(tmp_path):
    out = tmp_path / "ssmast"
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--cpu",
              os.path.join(ROOT, "training", "pretrain_ssmast.py"), *TINY, "--output_dir", str(out),
              "--config_name", "mast-tiny", "--max_steps", "1"]
    done = subprocess.run(launch, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((out / "config.json").read_text())["model_type"] == "specformers-mast"
    assert "python -m specformers.training.pretrain_ssmast" in (out / "README.md").read_text()  # the card's command

    scripts = ("pretrain_asit", "train_classifier", "visualize_gmml")
    running = {script: subprocess.Popen([sys.executable, os.path.join(ROOT, "training", f"{script}.py"), "--help"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for script in scripts}  # side by side on the cores: mostly imports
    for script, process in running.items():
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0 and "--output" in stdout, (script, stderr[-2000:])
