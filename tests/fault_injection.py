"""Run a training script as a real process with a fault at a chosen step, for the preemption and resume tests:

    python tests/fault_injection.py FAULT STEP RANK SCRIPT [script arguments]

FAULT is `kill-while-saving` (SIGKILL once the files of checkpoint STEP are written under its `.partial` name,
before it is complete), `kill-after` (SIGKILL when optimiser step STEP + 1 begins), `term` or `usr1` (SIGTERM or
SIGUSR1 while optimiser step STEP runs), `term-group` (SIGTERM to the whole process group, DataLoader workers
included, as SLURM signals a job), `term-launcher` (SIGTERM to the parent process, `accelerate launch`, while step
STEP runs) or `none`; the fault strikes process RANK only (`all`: every process). SCRIPT is `pretrain_asit`,
`pretrain_ssmast` or `train_classifier`. Also under `accelerate launch`."""

import importlib
import os
import signal
import sys

from accelerate import Accelerator, PartialState
from transformers import Trainer

from specformers.training import loop

STOP_SIGNALS = {"term": signal.SIGTERM, "usr1": signal.SIGUSR1, "term-group": signal.SIGTERM,
                "term-launcher": signal.SIGTERM}


def strike(rank: str) -> bool:
    return rank == "all" or PartialState().process_index == int(rank)


def send(fault: str) -> None:
    if fault == "term-group":
        os.killpg(os.getpgid(0), STOP_SIGNALS[fault])
    else:
        os.kill(os.getppid() if fault == "term-launcher" else os.getpid(), STOP_SIGNALS[fault])


def into_classifier(fault: str, step: int, rank: str) -> None:
    """The faults in transformers' Trainer, which train_classifier runs."""
    if fault == "kill-while-saving":
        save_checkpoint = Trainer._save_checkpoint  # what ClassifierTrainer._save_checkpoint calls to write

        def save_checkpoint_then_die(self, model, trial):
            save_checkpoint(self, model, trial)
            if self.state.global_step == step and strike(rank):
                os.kill(os.getpid(), signal.SIGKILL)

        Trainer._save_checkpoint = save_checkpoint_then_die
    elif fault != "none":
        training_step, sent = Trainer.training_step, []

        def faulty_training_step(self, *args, **kwargs):
            if fault == "kill-after" and self.state.global_step == step and strike(rank):
                os.kill(os.getpid(), signal.SIGKILL)
            if fault in STOP_SIGNALS and self.state.global_step == step - 1 and strike(rank) and not sent:
                sent.append(True)
                send(fault)
            return training_step(self, *args, **kwargs)

        Trainer.training_step = faulty_training_step


def into_pretraining(fault: str, step: int, rank: str) -> None:
    """The faults in the pretraining loop (`specformers.training.loop`)."""
    if fault == "kill-while-saving":
        save_state = Accelerator.save_state

        def save_state_then_die(self, output_dir=None, **kwargs):
            written = save_state(self, output_dir, **kwargs)
            if output_dir.endswith(f"checkpoint-{step}.partial") and strike(rank):
                os.kill(os.getpid(), signal.SIGKILL)
            return written

        Accelerator.save_state = save_state_then_die
    else:
        micro_step = loop.micro_step
        sent = []

        def faulty_micro_step(args, accelerator, model, optimizer, objective, batch, at_step):
            if fault == "kill-after" and at_step == step and strike(rank):
                os.kill(os.getpid(), signal.SIGKILL)
            if fault in STOP_SIGNALS and at_step == step - 1 and strike(rank) and not sent:
                sent.append(True)
                send(fault)
            return micro_step(args, accelerator, model, optimizer, objective, batch, at_step)

        loop.micro_step = faulty_micro_step


def main():
    fault, step, rank, script, *argv = sys.argv[1:]
    (into_classifier if script == "train_classifier" else into_pretraining)(fault, int(step), rank)
    importlib.import_module(f"specformers.training.{script}").main(argv)


if __name__ == "__main__":
    main()
