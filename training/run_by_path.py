"""Lets the training scripts run by their path (`accelerate launch training/pretrain_asit.py ...`) as well as with
`-m`: they import the package relatively, so run by path they hand over to the installed `specformers` module."""

from __future__ import annotations

import os
import runpy
import sys


def run_as_module(script: str) -> None:
    """Run `script` (`<folder>/<name>.py` of this package) as `python -m specformers.<folder>.<name>` would: same
    arguments, same `__main__` block; then exit."""
    folder, name = os.path.split(os.path.splitext(os.path.abspath(script))[0])
    if sys.path and os.path.abspath(sys.path[0] or ".") == folder:
        sys.path.pop(0)  # the script's folder: its modules (data, loop, ...) must not shadow top-level ones
    runpy.run_module(f"specformers.{os.path.basename(folder)}.{name}", run_name="__main__", alter_sys=True)
    sys.exit()
