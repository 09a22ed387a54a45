"""`export_for_hub`: a flat remote-code folder that a Python without specformers loads through the Auto classes and
`pipeline`, with the same logits as the original."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import yaml
from audio_helpers import chirp, noisy_tone

from specformers import (
    ASiTConfig,
    ASiTForAudioClassification,
    ASTConfig,
    ASTForAudioClassification,
    ASTModel,
    MASTConfig,
    MASTForAudioClassification,
    SpectrogramFeatureExtractor,
)
from specformers.export_for_hub import export_for_hub
from specformers.export_for_hub import main as export_main

LABELS = {0: "tone", 1: "sweep", 2: "hiss"}
MODELS = {
    "ast": lambda: ASTForAudioClassification(ASTConfig.from_preset("ast-tiny", id2label=LABELS, target_frames=96)),
    "mast": lambda: MASTForAudioClassification(MASTConfig.from_preset("mast-tiny", id2label=LABELS,
                                                                      target_frames=96)),
    "asit": lambda: ASiTForAudioClassification(ASiTConfig.from_preset("asit-tiny", id2label=LABELS)),
}

# The start of a script for a fresh interpreter in which `import specformers` fails.
HIDE_SPECFORMERS = textwrap.dedent("""
    import json, sys
    import numpy as np
    import torch

    class HideSpecformers:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "specformers":
                raise ImportError("specformers is hidden from this interpreter")
    sys.meta_path.insert(0, HideSpecformers())
    try:
        import specformers
    except ImportError:
        pass
    else:
        raise SystemExit("specformers is importable: the test would prove nothing")
""")

# Only the exported folders are available.
LOAD_WITHOUT_SPECFORMERS = HIDE_SPECFORMERS + textwrap.dedent("""

    from transformers import (AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification,
                              pipeline)

    folders, audio_path = json.loads(sys.argv[1]), sys.argv[2]
    audio = np.load(audio_path)
    out = {}
    for name, folder in folders.items():
        config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
        model = AutoModelForAudioClassification.from_pretrained(folder, trust_remote_code=True).eval()
        extractor = AutoFeatureExtractor.from_pretrained(folder, trust_remote_code=True)
        encoder = AutoModel.from_pretrained(folder, trust_remote_code=True)
        with torch.no_grad():
            logits = model(**extractor(list(audio), sampling_rate=16000, return_tensors="pt")).logits
        classify = pipeline("audio-classification", model=folder, trust_remote_code=True)
        top = classify({"raw": audio[0], "sampling_rate": 16000}, top_k=3)
        out[name] = {"logits": logits.tolist(), "pipeline": {p["label"]: p["score"] for p in top},
                     "classes": [type(config).__module__, type(model).__module__, type(extractor).__module__,
                                 type(encoder).__name__]}
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(folder name -> exported folder, original models, test audio) for one tiny model of each family."""
    root = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    extractor = SpectrogramFeatureExtractor.from_preset("speech_commands", target_frames=96)
    folders, models = {}, {}
    for name, build in MODELS.items():
        model = build().eval()
        model.save_pretrained(root / name)
        extractor.save_pretrained(root / name)
        folders[name] = str(export_for_hub(root / name, root / f"{name}-hub"))
        models[name] = model
    audio = np.stack([noisy_tone(16000), chirp(16000)])
    np.save(root / "audio.npy", audio)
    return folders, models, extractor, audio, root


@pytest.fixture(scope="module")
def loaded_elsewhere(exported, tmp_path_factory):
    folders, _, _, _, root = exported
    home = tmp_path_factory.mktemp("hf_home")
    env = {"PATH": "/usr/bin:/bin", "HF_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_SPECFORMERS, json.dumps(folders),
                             str(root / "audio.npy")], capture_output=True, text=True, env=env, cwd=home)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_remote_code_gives_the_same_logits_without_specformers(name, exported, loaded_elsewhere):
    _, models, extractor, audio, _ = exported
    with torch.no_grad():
        expected = models[name](**extractor(list(audio), sampling_rate=16000, return_tensors="pt")).logits
    got = loaded_elsewhere[name]
    assert np.abs(np.array(got["logits"]) - expected.numpy()).max() <= 1e-5
    probabilities = expected[0].softmax(-1)
    assert got["pipeline"] == pytest.approx({LABELS[i]: probabilities[i].item() for i in LABELS}, abs=1e-5)
    config_module, model_module, extractor_module, encoder_class = got["classes"]
    assert all(module.startswith("transformers_modules.") for module in (config_module, model_module,
                                                                        extractor_module))
    assert encoder_class == {"ast": "ASTModel", "mast": "MASTModel", "asit": "ASiTModel"}[name]


def test_exported_folder_is_flat_and_uses_single_dot_imports(exported):
    folders, *_ = exported
    for folder in map(__import__("pathlib").Path, folders.values()):
        assert not [p for p in folder.iterdir() if p.is_dir()]
        sources = list(folder.glob("*.py"))
        assert {p.name.split("_")[0] for p in sources} <= {"configuration", "modeling", "feature"}
        for source in sources:
            for line in source.read_text().splitlines():
                stripped = line.strip()
                assert "specformers" not in stripped or not stripped.startswith(("from", "import")), line
                assert not stripped.startswith("from .."), f"{source.name}: {line}"
        config = json.loads((folder / "config.json").read_text())
        assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForAudioClassification",
                                           "AutoFeatureExtractor"}
        assert "auto_map" in json.loads((folder / "preprocessor_config.json").read_text())
        card = (folder / "README.md").read_text()
        metadata = yaml.safe_load(card.split("---")[1])
        assert metadata["library_name"] == "transformers" and metadata["pipeline_tag"] == "audio-classification"
        assert "trust_remote_code=True" in card


def test_encoder_export_gets_a_feature_extraction_card(tmp_path, capsys):
    ASTModel(ASTConfig.from_preset("ast-tiny")).save_pretrained(tmp_path / "enc")
    SpectrogramFeatureExtractor().save_pretrained(tmp_path / "enc")
    export_main([str(tmp_path / "enc"), str(tmp_path / "hub")])
    assert "trust_remote_code=True" in capsys.readouterr().out
    metadata = yaml.safe_load((tmp_path / "hub" / "README.md").read_text().split("---")[1])
    assert metadata["pipeline_tag"] == "feature-extraction" and "model-index" not in metadata


def test_export_errors_say_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        export_for_hub(tmp_path, tmp_path / "out")
    ASTModel(ASTConfig.from_preset("ast-tiny")).save_pretrained(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="no preprocessor_config.json"):
        export_for_hub(tmp_path / "m", tmp_path / "out")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "config.json").write_text(json.dumps({"model_type": "specformers-ssmast"}))
    with pytest.raises(ValueError, match="holds a 'specformers-ssmast' model"):
        export_for_hub(tmp_path / "x", tmp_path / "out")
