"""Run a training script's `main` in this process, printing its command line first: how the quickstart and the
benchmarks chain the scripts, so that each printed step can also be run alone."""

from __future__ import annotations

import importlib
import shlex


def run_step(title: str, module: str, argv: list) -> object:
    """Print `title` and the step's command line, then run `module`'s `main(argv)` and return what it returns."""
    argv = [str(a) for a in argv]
    print(f"\n== {title}\n$ python -m {module} {' '.join(shlex.quote(a) for a in argv)}", flush=True)
    return importlib.import_module(module).main(argv)
