"""Publishing to the Hub with huggingface_hub: what a user of the repository should get, which loads with
`trust_remote_code=True` in a Python without specformers — a training run's folder through `export_for_hub`
(weights, extractor, card with the evaluation, results, code and `auto_map`), a model alone with its code."""

from __future__ import annotations

import os
import tempfile

from .export_for_hub import export_for_hub


def upload_folder(folder: str, repo_id: str, *, token: str | None = None, private: bool | None = None,
                  commit_message: str = "Upload with specformers", revision: str | None = None) -> str:
    """Create the model repository `repo_id` if needed and upload `folder` into it; returns the repository id."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message, revision=revision)
    return repo_id


def push_run_to_hub(output_dir: str, repo_id: str | None, *, token: str | None = None, private: bool | None = None,
                    commit_message: str = "Upload with specformers") -> str:
    """Push a training run's saved model (`output_dir`, with its extractor, card and results) as its
    `export_for_hub` folder to `repo_id` (default: the folder's name under your account)."""
    with tempfile.TemporaryDirectory() as staging:
        export_for_hub(output_dir, staging)
        return upload_folder(staging, repo_id or os.path.basename(os.path.normpath(output_dir)), token=token,
                             private=private, commit_message=commit_message)
