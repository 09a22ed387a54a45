"""Run a pretraining script as a real process with a fault at a chosen step, for the preemption and resume tests:

    python tests/fault_injection.py FAULT STEP RANK SCRIPT [script arguments]

FAULT is `kill-while-saving` (SIGKILL once Accelerate has written `checkpoint-STEP.partial`, before it is
complete), `kill-after` (SIGKILL when optimiser step STEP + 1 begins), `term` or `usr1` (SIGTERM or SIGUSR1 while
optimiser step STEP runs), `term-launcher` (SIGTERM to the parent process, `accelerate launch`, while step STEP
runs) or `none`; the fault strikes process RANK only (`all`: every process). SCRIPT is
`pretrain_asit` or `pretrain_ssmast`. Also under `accelerate launch`."""

import importlib
import os
import signal
import sys

from accelerate import Accelerator, PartialState

from specformers.training import loop

STOP_SIGNALS = {"term": signal.SIGTERM, "usr1": signal.SIGUSR1, "term-launcher": signal.SIGTERM}


def strike(rank: str) -> bool:
    return rank == "all" or PartialState().process_index == int(rank)


def main():
    fault, step, rank, script, *argv = sys.argv[1:]
    step = int(step)
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
                os.kill(os.getppid() if fault == "term-launcher" else os.getpid(), STOP_SIGNALS[fault])
            return micro_step(args, accelerator, model, optimizer, objective, batch, at_step)

        loop.micro_step = faulty_micro_step
    importlib.import_module(f"specformers.training.{script}").main(argv)


if __name__ == "__main__":
    main()
