"""Stopping cleanly when a scheduler asks: SIGTERM (Kubernetes, SLURM at the time limit or on preemption) or
SIGUSR1 (SLURM's `--signal=USR1@<seconds>`) makes the pretraining loop, or train_classifier's Trainer
(`StopTrainerOnRequest`), finish its step, save a checkpoint of it and exit with `PREEMPTED_EXIT_STATUS`, so that a
requeued job resumes with `--resume_from_checkpoint latest`."""

from __future__ import annotations

import signal
import threading
from functools import partial

from transformers import TrainerCallback

from .host_sums import HostSums

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
PREEMPTED_EXIT_STATUS = 75  # EX_TEMPFAIL of sysexits.h: "a temporary failure; the user is invited to retry"


class StopRequests:
    """A context manager that catches the stop signals while the loop runs and answers `should_stop()` the same on
    every process, also when the signal reached one process only (agreed through `HostSums`)."""

    def __init__(self, host_sums: HostSums):
        self.signal: int | None = None
        self.stopping = False
        self.host_sums = host_sums
        self._previous = {}
        if threading.current_thread() is threading.main_thread():  # Python handles signals in the main thread only
            self._previous = {s: signal.signal(s, self._request) for s in STOP_SIGNALS}

    def _request(self, signum, frame) -> None:
        self.signal = signum

    def should_stop(self) -> bool:
        self.stopping = self.host_sums([self.signal is not None])[0] > 0
        return self.stopping

    def describe(self) -> str:
        """Which signal asked for the stop, as seen by this process."""
        return signal.Signals(self.signal).name if self.signal else "a signal to another process"

    def __enter__(self) -> StopRequests:
        return self

    def __exit__(self, *exc) -> None:
        """Give the signals back to their previous handlers; unless the run is stopping for them: then they are
        ignored from here to the exit (Python's own shutdown included, which resets caught signals but not ignored
        ones), because a launcher that saw one process leave sends the others SIGTERM, which must not turn their
        checkpointed exit into a kill."""
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if self.stopping else handler)
        self._previous = {}


def ignore_stop_signals(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: a scheduler signals every process of the job, workers included; the main
    process decides when to stop and ends its workers itself."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


class StopTrainerOnRequest(TrainerCallback):
    """`StopRequests` for transformers' `Trainer`: when a stop is requested, the step that just ended is saved and
    training ends, without the end-of-epoch evaluation and save that would otherwise follow the break."""

    def __init__(self, stops: StopRequests):
        self.stops = stops

    def on_step_end(self, args, state, control, **kwargs):
        if self.stops.should_stop():  # every process asks at every step: a collective
            control.should_save = control.should_training_stop = True
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.stops.stopping:
            control.should_save = control.should_evaluate = False
        return control


def ignoring_stop_signals(worker_init_fn=None):
    """`worker_init_fn` (or nothing) preceded by `ignore_stop_signals`; picklable, for spawned workers."""
    return partial(_ignore_stop_signals_then, worker_init_fn)


def _ignore_stop_signals_then(worker_init_fn, worker_id: int) -> None:
    ignore_stop_signals(worker_id)
    if worker_init_fn is not None:
        worker_init_fn(worker_id)
