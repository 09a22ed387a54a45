"""Programs and files some tests need from the system (the corpus builder's synthesisers and soundfonts). CI
installs them (.ci/run) and sets SPECFORMERS_CI=1, and there a missing one fails the test instead of skipping it."""

import os
import shutil

import pytest


def missing(*programs_or_files: str) -> list[str]:
    return [p for p in programs_or_files if not (shutil.which(p) or os.path.exists(p))]


def require(*programs_or_files: str) -> None:
    """Skip the calling test when something is missing (fail in CI)."""
    absent = missing(*programs_or_files)
    if absent and os.environ.get("SPECFORMERS_CI"):
        pytest.fail(f"CI must install {absent} (see .ci/run)")
    if absent:
        pytest.skip(f"needs {absent}: apt-get install them to run this test")
