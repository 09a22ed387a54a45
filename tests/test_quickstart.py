"""The README's main command, shortened: it trains, saves, and classifies through the pipeline."""

import json

from specformers import quickstart


def test_quickstart_runs_end_to_end(tmp_path, capsys):
    quickstart.main(["--output_dir", str(tmp_path), "--steps", "2"])
    model_dir = tmp_path / "tiny-ast-tones"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "specformers-ast"
    assert set(config["id2label"].values()) == {"low", "middle", "high"}
    assert (model_dir / "preprocessor_config.json").exists() and (model_dir / "model.safetensors").exists()
    printed = capsys.readouterr().out
    assert "through pipeline('audio-classification')" in printed
    assert sum(label in printed for label in ("low:", "middle:", "high:")) == 3
