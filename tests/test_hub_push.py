"""Publishing: `--push_to_hub` of the training scripts and `model.push_to_hub()` hand huggingface_hub a folder that
loads without specformers. No network: huggingface_hub's create_repo and upload_folder are intercepted and the
folder they were handed is loaded in a Python where `import specformers` fails."""

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from audio_helpers import noisy_tone
from huggingface_hub import HfApi, ModelCard, RepoUrl
from test_export_for_hub import HIDE_SPECFORMERS
from test_pretrain_asit import TINY as PRETRAIN_TINY
from test_train_classifier import SCRATCH, TINY, tones  # noqa: F401 (`tones`: a fixture)
from training_helpers import run_main

from specformers import ASTConfig, ASTForAudioClassification, MASTConfig, MASTModel, SpectrogramFeatureExtractor
from specformers.training import pretrain_asit, train_classifier

LOAD = HIDE_SPECFORMERS + textwrap.dedent("""
    from transformers import AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification, pipeline

    folders, features = json.loads(sys.argv[1]), torch.from_numpy(np.load(sys.argv[2]))
    out = {}
    with torch.no_grad():
        model = AutoModelForAudioClassification.from_pretrained(folders["model"], trust_remote_code=True).eval()
        out["model"] = model(features).logits.tolist()
        encoder = AutoModel.from_pretrained(folders["encoder"], trust_remote_code=True).eval()
        out["encoder"] = encoder(features).pooler_output.tolist()
        classifier = AutoModelForAudioClassification.from_pretrained(folders["run"], trust_remote_code=True).eval()
        extractor = AutoFeatureExtractor.from_pretrained(folders["run"], trust_remote_code=True)
        inputs = extractor(np.load(sys.argv[3]), sampling_rate=16000, return_tensors="pt")
        out["run"] = classifier(**inputs).logits.tolist()
    top = pipeline("audio-classification", model=folders["run"], trust_remote_code=True)(np.load(sys.argv[3]))[0]
    out["pipeline"] = top["label"]
    print(json.dumps(out))
""")


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """The Hub as huggingface_hub would reach it: repo id -> (copy of the uploaded folder, create_repo keywords)."""
    pushed = {}

    def create_repo(self, repo_id, **kwargs):
        repo_id = repo_id if "/" in repo_id else f"me/{repo_id}"
        pushed[repo_id] = [None, kwargs]
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        pushed[repo_id][0] = shutil.copytree(folder_path, tmp_path / "hub" / repo_id)

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return pushed


def test_pushed_folders_load_without_specformers(hub, tones, corpus, tmp_path):  # noqa: F811
    torch.manual_seed(0)
    model = ASTForAudioClassification(ASTConfig.from_preset("ast-tiny", num_labels=3, target_frames=48)).eval()
    assert model.push_to_hub("me/tiny-ast", private=True) == "me/tiny-ast"
    assert hub["me/tiny-ast"][1]["private"] is True

    run = tmp_path / "run"
    run_main(train_classifier.main, "--dataset_name", tones, "--output_dir", run, *SCRATCH["ast"], "--do_train",
             "--do_eval", "--max_steps", 2, *TINY, "--push_to_hub", "--hub_model_id", "me/kws-ast")
    folder = hub["me/kws-ast"][0]
    for name in ("model.safetensors", "all_results.json", "eval_confusion_matrix.png", "eval_per_class.json",
                 "modeling_ast.py", "feature_extraction_fbank.py"):
        assert (folder / name).is_file(), name
    assert not (folder / "training_args.bin").exists() and not list(folder.glob("checkpoint-*"))
    assert "AutoFeatureExtractor" in json.loads((folder / "preprocessor_config.json").read_text())["auto_map"]
    card = ModelCard.load(folder / "README.md")  # specformers' card, with the run's evaluation
    results = json.loads((run / "all_results.json").read_text())
    assert [r.metric_value for r in card.data.eval_results] == [results["eval_accuracy"]]

    encoder = tmp_path / "encoder"
    run_main(pretrain_asit.main, "--dataset_name", corpus, "--output_dir", encoder, "--max_steps", 1,
             *PRETRAIN_TINY, "--push_to_hub")
    assert json.loads((hub["me/encoder"][0] / "config.json").read_text())["auto_map"]["AutoModel"].endswith(
        "ASiTModel")

    features, audio = torch.randn(2, 96, 128), noisy_tone(16000, seed=5)
    np.save(tmp_path / "features.npy", features.numpy())
    np.save(tmp_path / "audio.npy", audio)
    folders = {"model": str(hub["me/tiny-ast"][0]), "encoder": str(hub["me/encoder"][0]), "run": str(folder)}
    env = {"PATH": "/usr/bin:/bin", "HF_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", LOAD, json.dumps(folders), str(tmp_path / "features.npy"),
                           str(tmp_path / "audio.npy")], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])

    from transformers import AutoModel, AutoModelForAudioClassification

    with torch.no_grad():
        assert np.abs(np.array(got["model"]) - model(features).logits.numpy()).max() <= 1e-5
        pooled = AutoModel.from_pretrained(encoder).eval()(features).pooler_output
        assert np.abs(np.array(got["encoder"]) - pooled.numpy()).max() <= 1e-5
        classifier = AutoModelForAudioClassification.from_pretrained(run).eval()
        extractor = SpectrogramFeatureExtractor.from_pretrained(run)
        logits = classifier(**extractor(audio, sampling_rate=16000, return_tensors="pt")).logits
    assert np.abs(np.array(got["run"]) - logits.numpy()).max() <= 1e-5
    assert got["pipeline"] == classifier.config.id2label[int(logits.argmax())]


def test_save_pretrained_carries_the_code_when_asked(hub, tmp_path):
    model = MASTModel(MASTConfig.from_preset("mast-tiny"))
    model.save_pretrained(tmp_path / "plain")
    assert not list((tmp_path / "plain").glob("*.py"))  # a plain save stays plain
    model.save_pretrained(tmp_path / "pushed", push_to_hub=True, repo_id="me/mast", commit_message="first")
    assert "auto_map" in json.loads((hub["me/mast"][0] / "config.json").read_text())
    MASTModel.register_for_auto_class("AutoModel")
    try:
        model.save_pretrained(tmp_path / "registered")
    finally:
        MASTModel._auto_class = None
    assert (tmp_path / "registered" / "modeling_mast.py").is_file()
    assert json.loads((tmp_path / "registered" / "config.json").read_text())["auto_map"]["AutoModel"] == \
        "modeling_mast.MASTModel"
