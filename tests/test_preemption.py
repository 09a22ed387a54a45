"""Cluster faults on real training processes (`tests/fault_injection.py`), pretraining and train_classifier: SIGKILL
while a checkpoint is written and after one, SIGTERM / SIGUSR1 to one process of two, to the launcher, or to the
whole job (DataLoader workers included); every time the run resumes with `latest` and ends where the uninterrupted
run ends, bit for bit."""

import json
import os
import re
import subprocess
import sys

import pytest
import test_pretrain_asit
import test_pretrain_ssmast
from safetensors.torch import load_file
from test_train_classifier import SCRATCH, tones  # noqa: F401 (`tones`: a fixture)
from test_train_classifier import TINY as CLASSIFIER_TINY
from training_helpers import read_log, run_main

from specformers.training import pretrain_asit, pretrain_ssmast, train_classifier
from specformers.training.checkpoints import complete_checkpoints, find_checkpoint
from specformers.training.preemption import PREEMPTED_EXIT_STATUS

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = test_pretrain_asit.TINY
SCRIPTS = {"pretrain_asit": (pretrain_asit.main, ["--max_steps", 6, "--checkpointing_steps", 2, *TINY]),
           "pretrain_ssmast": (pretrain_ssmast.main, ["--max_steps", 6, "--checkpointing_steps", 2,
                                                      *test_pretrain_ssmast.TINY,
                                                      "--config_overrides", "mixup_memory_size=6"])}
RUN = SCRIPTS["pretrain_asit"][1]


def with_fault(fault, step, *argv, rank="all", processes=1, script="pretrain_asit"):
    """Run a pretraining script in a new process (or `accelerate launch` with `processes`) with a fault at `step`."""
    launcher = [sys.executable] if processes == 1 else [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes)]
    command = [*launcher, os.path.join(HERE, "fault_injection.py"), fault, str(step), rank, script,
               *map(str, argv)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, start_new_session=True,
                          env={**os.environ, "TQDM_DISABLE": "1"})  # its own process group, for `term-group`


def assert_same_weights(folder_a, folder_b, name="model.safetensors"):
    a, b = load_file(os.path.join(folder_a, name)), load_file(os.path.join(folder_b, name))
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].equal(b[key]), key


@pytest.fixture(scope="module")
def uninterrupted(corpus, tmp_path_factory):
    """script name -> the folder of its uninterrupted run (each run once per module)."""
    runs = {}

    def run(script):
        if script not in runs:
            main, argv = SCRIPTS[script]
            runs[script] = tmp_path_factory.mktemp(script)
            run_main(main, "--dataset_name", corpus, "--output_dir", runs[script], *argv)
        return runs[script]

    return run


def test_killed_while_saving_and_after_a_save_resumes_to_the_same_weights(corpus, uninterrupted, tmp_path):
    out = tmp_path / "faulty"
    argv = ["--dataset_name", corpus, "--output_dir", out, *RUN, "--save_total_limit", 1]
    killed = with_fault("kill-while-saving", 4, *argv)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert (out / "checkpoint-4.partial").is_dir() and not (out / "checkpoint-4").exists()
    assert complete_checkpoints(out) == [str(out / "checkpoint-2")]
    assert find_checkpoint(str(out), "latest") == str(out / "checkpoint-2")  # never the half-written one

    killed = with_fault("kill-after", 5, *argv, "--resume_from_checkpoint", "latest")
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert "Ignoring" in killed.stderr and "checkpoint-4.partial" in killed.stderr
    assert complete_checkpoints(out) == [str(out / "checkpoint-4")]  # rewritten whole; the limit removed step 2
    assert not (out / "checkpoint-4.partial").exists()

    run_main(pretrain_asit.main, *argv, "--resume_from_checkpoint", "latest")
    assert complete_checkpoints(out) == [str(out / "checkpoint-6")]
    whole = uninterrupted("pretrain_asit")
    assert_same_weights(out, whole)
    assert_same_weights(out / "checkpoint-6", whole / "checkpoint-6")
    assert read_log(out) == read_log(whole)  # each step once, with the uninterrupted run's values


@pytest.mark.parametrize("script, fault, name", [("pretrain_asit", "term", "SIGTERM"),
                                                 ("pretrain_ssmast", "usr1", "SIGUSR1")])
def test_a_stop_signal_checkpoints_the_step_and_exits_for_a_requeue(script, fault, name, corpus, uninterrupted,
                                                                    tmp_path):
    main, run = SCRIPTS[script]
    out = tmp_path / "preempted"
    argv = ["--dataset_name", corpus, "--output_dir", out, *run]
    stopped = with_fault(fault, 3, *argv, script=script)
    assert stopped.returncode == PREEMPTED_EXIT_STATUS, stopped.stderr[-3000:]
    assert f"Stopped by {name} at step 3" in stopped.stdout + stopped.stderr
    assert complete_checkpoints(out) == [str(out / "checkpoint-2"), str(out / "checkpoint-3")]
    assert not (out / "model.safetensors").exists()  # not finished: no encoder export yet
    assert [r["step"] for r in read_log(out)] == [1, 2, 3]

    run_main(main, *argv, "--resume_from_checkpoint", "latest")
    assert_same_weights(out, uninterrupted(script))
    assert read_log(out) == read_log(uninterrupted(script))


@pytest.mark.several_processes
def test_two_processes_stop_together_and_resume_exactly(corpus, tmp_path):
    """Stopped by a signal to one of the two processes, then by SIGTERM to `accelerate launch`, which passes it
    on to its processes (SIGUSR1 would end the launcher itself)."""
    argv = ["--max_steps", 8, *TINY[:3], 2, *TINY[4:]]  # 2 clips per process
    whole = with_fault("none", 0, "--dataset_name", corpus, "--output_dir", tmp_path / "whole", *argv, processes=2)
    assert whole.returncode == 0, whole.stderr[-3000:]
    summary = json.loads((tmp_path / "whole" / "pretraining_state.json").read_text())
    checksums = summary["parameter_checksums"]
    assert summary["steps"] == 8 and len(checksums) == 2 and checksums[0] == checksums[1]  # processes in sync

    out = tmp_path / "split"
    stopped = with_fault("term", 3, "--dataset_name", corpus, "--output_dir", out, *argv, rank="1", processes=2)
    assert stopped.returncode != 0  # the launcher reports its processes' status 75 as a failure
    statuses = re.findall(r"exitcode\s+:\s*(\d+) \(pid", stopped.stderr)  # the launcher's table of its processes
    assert statuses == [str(PREEMPTED_EXIT_STATUS)] * 2, stopped.stderr[-3000:]
    assert complete_checkpoints(out) == [str(out / "checkpoint-3")]  # both processes stopped after step 3

    stopped = with_fault("term-launcher", 5, "--dataset_name", corpus, "--output_dir", out, *argv,
                         "--resume_from_checkpoint", "latest", rank="0", processes=2)
    assert stopped.returncode != 0 and "death signal, shutting down workers" in stopped.stderr, stopped.stderr[-3000:]
    assert re.findall(r"exitcode\s+:\s*(\d+) \(pid", stopped.stderr) in ([], ["75", "75"]), stopped.stderr[-3000:]
    (step,) = [int(path.rsplit("-", 1)[1]) for path in complete_checkpoints(out)][1:]  # the signal's step (5 or 6)
    assert 5 <= step < 8 and not (out / "model.safetensors").exists()

    resumed = with_fault("none", 0, "--dataset_name", corpus, "--output_dir", out, *argv,
                         "--resume_from_checkpoint", "latest", processes=2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    whole_log, split_log = read_log(tmp_path / "whole"), read_log(out)
    assert [r["step"] for r in split_log] == list(range(1, 9))
    for a, b in zip(whole_log, split_log):
        for term in ("loss", "global", "local", "reconstruction"):
            assert b[term] == pytest.approx(a[term], rel=1e-6, abs=0), (a["step"], term)
    assert_same_weights(out, tmp_path / "whole")


# train_classifier: transformers' Trainer, with every augmentation (per-clip seeds make a resume exact)
CLASSIFIER_RUN = [*SCRATCH["ast"], "--do_train", "--max_steps", 6, *CLASSIFIER_TINY, "--save_strategy", "steps",
                  "--save_steps", 2, "--freqm", 8, "--timem", 8, "--mixup", 0.3, "--noise"]


def losses(folder):
    state = json.loads((folder / "trainer_state.json").read_text())
    return [(record["step"], record["loss"]) for record in state["log_history"] if "loss" in record]


@pytest.fixture(scope="module")
def classifier_run(tones, tmp_path_factory):  # noqa: F811 (pytest passes the fixture)
    """The uninterrupted 6-step classifier run, one process, no DataLoader worker."""
    out = tmp_path_factory.mktemp("classifier")
    run_main(train_classifier.main, "--dataset_name", tones, "--output_dir", out, *CLASSIFIER_RUN)
    return out


def test_classifier_killed_while_saving_and_after_a_save_resumes_to_the_same_weights(tones, classifier_run,  # noqa: F811
                                                                                   tmp_path):
    out = tmp_path / "faulty"
    argv = ["--dataset_name", tones, "--output_dir", out, *CLASSIFIER_RUN, "--save_total_limit", 1]
    killed = with_fault("kill-while-saving", 4, *argv, script="train_classifier")
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert (out / "checkpoint-4.partial" / "checkpoint-4" / "trainer_state.json").is_file()  # written, not moved
    assert complete_checkpoints(out) == [str(out / "checkpoint-2")]

    killed = with_fault("kill-after", 5, *argv, "--resume_from_checkpoint", "latest", script="train_classifier")
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert "Ignoring" in killed.stderr and "checkpoint-4.partial" in killed.stderr
    assert sorted(os.listdir(out)) == ["checkpoint-4"]  # rewritten whole; the limit removed step 2

    run_main(train_classifier.main, *argv, "--resume_from_checkpoint", "latest")
    assert complete_checkpoints(out) == [str(out / "checkpoint-6")]
    assert_same_weights(out, classifier_run)
    assert losses(out) == losses(classifier_run)  # steps 1-4 from checkpoint-4's state, 5-6 from this run


def test_classifier_stops_on_sigterm_to_the_whole_job_and_resumes_exactly(tones, classifier_run, tmp_path):  # noqa: F811
    """SIGTERM reaches the DataLoader worker too, as when SLURM signals a job: the worker ignores it, the main
    process finishes step 2 (mid-epoch), checkpoints it and exits 75. The resumed run, with no worker, ends with the
    weights of the uninterrupted one: each clip's augmentation does not depend on where it was drawn."""
    out = tmp_path / "preempted"
    argv = ["--dataset_name", tones, "--output_dir", out, *CLASSIFIER_RUN]
    stopped = with_fault("term-group", 2, *argv, "--dataloader_num_workers", 1, script="train_classifier")
    assert stopped.returncode == PREEMPTED_EXIT_STATUS, stopped.stderr[-3000:]
    assert "Stopped by SIGTERM at step 2" in stopped.stderr
    assert sorted(os.listdir(out)) == ["checkpoint-2"]  # no final model, no evaluation
    run_main(train_classifier.main, *argv, "--resume_from_checkpoint", "latest")
    assert_same_weights(out, classifier_run)
    assert losses(out) == losses(classifier_run)


@pytest.mark.several_processes
def test_classifier_processes_stop_together_on_a_signal_to_one(tones, tmp_path):  # noqa: F811
    argv = ["--dataset_name", tones, "--output_dir", tmp_path, *CLASSIFIER_RUN, "--per_device_train_batch_size", 3]
    stopped = with_fault("usr1", 3, *argv, rank="1", processes=2, script="train_classifier")
    assert re.findall(r"exitcode\s+:\s*(\d+) \(pid", stopped.stderr) == ["75", "75"], stopped.stderr[-3000:]
    assert complete_checkpoints(tmp_path) == [str(tmp_path / "checkpoint-2"), str(tmp_path / "checkpoint-3")]
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= set(os.listdir(tmp_path / "checkpoint-3"))
    resumed = with_fault("none", 0, *argv, "--resume_from_checkpoint", "latest", processes=2,
                         script="train_classifier")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((tmp_path / "trainer_state.json").read_text())["global_step"] == 6


def test_classifier_keeps_the_best_checkpoint_under_the_limit(tones, tmp_path):  # noqa: F811
    """With --load_best_model_at_end the best checkpoint stays beside the newest, under its final name."""
    run_main(train_classifier.main, "--dataset_name", tones, "--output_dir", tmp_path, *CLASSIFIER_RUN, "--do_eval",
             "--eval_strategy", "steps", "--eval_steps", 2, "--save_total_limit", 1, "--load_best_model_at_end",
             "--metric_for_best_model", "accuracy")
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    best = state["best_model_checkpoint"]
    assert best == str(tmp_path / f"checkpoint-{state['best_global_step']}")
    saved = json.loads((tmp_path / os.path.basename(best) / "trainer_state.json").read_text())
    assert saved["best_model_checkpoint"] == best
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".partial")]
