"""Helpers for the tests that run the training scripts."""

import importlib.util
import io
import json
import os

import soundfile
from accelerate.state import AcceleratorState, GradientState


def run_main(main, *argv):
    """Run a training script's `main` in this process, with a fresh Accelerate state around it."""
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    try:
        return main([str(a) for a in argv])
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


def read_log(directory):
    with open(os.path.join(directory, "train_log.jsonl")) as f:
        return [json.loads(line) for line in f]


def wav_bytes(clip, rate=16000):
    buffer = io.BytesIO()
    soundfile.write(buffer, clip, rate, format="WAV")
    return buffer.getvalue()


def load_benchmark(name: str):
    """A script of benchmarks/ (not a package) imported as a module, e.g. `load_benchmark("reproduce_claims")`."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
