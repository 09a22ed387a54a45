"""docs/recipes.md: every recipe's command runs end to end, here on a local stand-in with the Hub dataset's schema
(column names, label layout, configs, splits, folds; the audio at the corpus's own rate), at tiny size."""

import json
import shlex

import pytest
import yaml
from audio_helpers import noisy_tone
from datasets import Audio, ClassLabel, Dataset, Features, Sequence, Value
from docs_blocks import blocks
from training_helpers import run_main, wav_bytes

from specformers import ASTConfig, ASTModel, MASTConfig, MASTModel
from specformers.training import cross_validate, train_classifier

RECIPES = [block for block in blocks("docs/recipes.md") if block.language == "bash"]
SCRIPTS = {"specformers.training.train_classifier": train_classifier.main,
           "specformers.training.cross_validate": cross_validate.main}
TINY = ["--max_steps", "1", "--num_train_epochs", "1", "--warmup_steps", "0", "--per_device_train_batch_size", "4",
        "--per_device_eval_batch_size", "4", "--target_frames", "48", "--dataloader_num_workers", "0",
        "--eval_strategy", "no", "--save_strategy", "no", "--report_to", "none", "--seed", "0"]
CLASSES = ("dog", "rain", "siren")


def clip(index: int, rate: int, seconds: float = 0.6) -> dict:
    samples = noisy_tone(int(rate * seconds), rate=rate, freq=300 + 150 * (index % 7), seed=index)
    return {"bytes": wav_bytes(samples, rate), "path": f"clip{index}.wav"}


def write_configs(root, configs: dict[str, dict[str, Dataset]]) -> None:
    """Parquet files per config and split, declared in the dataset card as a Hub dataset declares them."""
    declared = []
    for config, splits in configs.items():
        files = []
        for split, dataset in splits.items():
            dataset.to_parquet(str(root / config / f"{split}.parquet"))
            files.append({"split": split, "path": f"{config}/{split}.parquet"})
        declared.append({"config_name": config, "data_files": files})
    (root / "README.md").write_text(f"---\n{yaml.safe_dump({'configs': declared})}---\n")


def audioset(root):
    """agkphysics/AudioSet: configs balanced / unbalanced, splits train / test, label lists in human_labels."""
    features = Features({"video_id": Value("string"), "audio": Audio(), "labels": Sequence(Value("string")),
                         "human_labels": Sequence(Value("string"))})
    mixes = [["Dog"], ["Rain"], ["Dog", "Rain"], ["Siren"], ["Rain", "Siren"], ["Dog", "Siren"]]

    def split(offset):
        rows = [{"video_id": f"v{offset + i}", "audio": clip(offset + i, 32000), "labels": [f"/m/{n}" for n in m],
                 "human_labels": m} for i, m in enumerate(mixes * 2)]
        return Dataset.from_list(rows, features=features)
    write_configs(root, {"balanced": {"train": split(0), "test": split(100)},
                         "unbalanced": {"train": split(200), "test": split(300)}})


def esc50(root):
    """ashraq/esc50: one train split, folds 1-5 in `fold`, class names in `category`, 44.1 kHz clips."""
    rows = [{"filename": f"{fold}-{i}-A-{t}.wav", "fold": fold, "target": t, "category": name, "esc10": t == 0,
             "src_file": i, "take": "A", "audio": clip(10 * fold + t, 44100)}
            for fold in range(1, 6) for t, name in enumerate(CLASSES) for i in range(1)]
    features = Features({"filename": Value("string"), "fold": Value("int64"), "target": Value("int64"),
                         "category": Value("string"), "esc10": Value("bool"), "src_file": Value("int64"),
                         "take": Value("string"), "audio": Audio()})
    root.mkdir(exist_ok=True)
    Dataset.from_list(rows, features=features).to_parquet(str(root / "train.parquet"))


def speech_commands(root):
    """google/speech_commands: configs v0.01 / v0.02, splits train / validation / test, a ClassLabel `label`."""
    features = Features({"file": Value("string"), "audio": Audio(),
                         "label": ClassLabel(names=["yes", "no", "_silence_"]), "is_unknown": Value("bool"),
                         "speaker_id": Value("string"), "utterance_id": Value("int8")})

    def split(offset):
        return Dataset.from_list([{"file": f"{offset + i}.wav", "audio": clip(offset + i, 16000, 1.0),
                                   "label": i % 3, "is_unknown": False, "speaker_id": f"s{i}", "utterance_id": 0}
                                  for i in range(9)], features=features)
    write_configs(root, {version: {"train": split(0), "validation": split(50), "test": split(90)}
                         for version in ("v0.01", "v0.02")})


def urbansound(root):
    """danavery/urbansound8K: one train split, folds 1-10 in `fold`, class names in `class`, 22.05 kHz."""
    rows = [{"slice_file_name": f"{fold}-{t}.wav", "fsID": fold, "start": 0.0, "end": 0.6, "salience": 1,
             "fold": fold, "classID": t, "class": name, "audio": clip(20 * fold + t, 22050)}
            for fold in range(1, 11) for t, name in enumerate(CLASSES)]
    root.mkdir(exist_ok=True)
    Dataset.from_list(rows, features=Features({
        "slice_file_name": Value("string"), "fsID": Value("int64"), "start": Value("float64"),
        "end": Value("float64"), "salience": Value("int64"), "fold": Value("int64"), "classID": Value("int64"),
        "class": Value("string"), "audio": Audio()})).to_parquet(str(root / "train.parquet"))


STANDINS = {"agkphysics/AudioSet": audioset, "ashraq/esc50": esc50, "google/speech_commands": speech_commands,
            "danavery/urbansound8K": urbansound}


def recipe_command(code: str) -> tuple[str, list[str]]:
    """A recipe block's one command -> (its module, its arguments); `accelerate launch` runs it as one process."""
    words = shlex.split(code.replace("\\\n", " "), comments=True)
    module = words[words.index("-m") + 1]
    return module, words[words.index(module) + 1:]


def replace_value(argv: list[str], flag: str, value) -> list[str]:
    argv = list(argv)
    argv[argv.index(flag) + 1] = str(value)
    return argv


@pytest.fixture(scope="module")
def starting_models(tmp_path_factory):
    """Tiny stand-ins for the recipes' starting folders (the ImageNet AST, an SS-MAST run's MAST encoder)."""
    root = tmp_path_factory.mktemp("models")
    ASTModel(ASTConfig.from_preset("ast-tiny", target_frames=48)).save_pretrained(root / "ast-imagenet")
    MASTModel(MASTConfig.from_preset("mast-tiny", target_frames=48)).save_pretrained(root / "ssmast-run")
    return root


def test_every_recipe_reads_a_known_dataset():
    assert len(RECIPES) == 5
    for block in RECIPES:
        _, argv = recipe_command(block.code)
        assert argv[argv.index("--dataset_name") + 1] in STANDINS, block.where


@pytest.mark.parametrize("block", RECIPES, ids=[f"line{b.line}" for b in RECIPES])
def test_recipe_runs_on_a_stand_in(block, starting_models, tmp_path):
    module, argv = recipe_command(block.code)
    dataset = argv[argv.index("--dataset_name") + 1]
    STANDINS[dataset](tmp_path / "data")
    argv = replace_value(argv, "--dataset_name", tmp_path / "data")
    argv = replace_value(argv, "--model_name_or_path", starting_models / argv[argv.index("--model_name_or_path") + 1])
    out = tmp_path / "out"
    metrics = run_main(SCRIPTS[module], *argv, *TINY, "--output_dir", out)
    if module.endswith("cross_validate"):
        folds = argv[argv.index("--folds") + 1].split(",")
        summary = json.loads((out / "cross_validation.json").read_text())
        assert sorted(summary["folds"]) == sorted(folds) and "eval_accuracy" in summary["summary"]
        for fold in folds:  # each fold is evaluated on its own clips: one of each class
            report = json.loads((out / f"fold-{fold}" / "eval_per_class.json").read_text())
            assert {name: row["support"] for name, row in report["per_class"].items()} == dict.fromkeys(CLASSES, 1)
        assert metrics["summary"]["eval_accuracy"]["mean"] == pytest.approx(
            sum(summary["folds"][f]["eval_accuracy"] for f in folds) / len(folds))
    elif "--problem_type" in argv:
        assert 0 <= metrics["eval_mAP"] <= 1
    else:
        assert 0 <= metrics["eval_accuracy"] <= 1


def test_cross_validation_continues_and_bad_folds_are_refused(starting_models, tmp_path):
    esc50(tmp_path / "data")
    argv = ["--fold_column_name", "fold", "--model_name_or_path", starting_models / "ast-imagenet", "--dataset_name",
            tmp_path / "data", "--label_column_name", "category", "--do_train", "--do_eval", *TINY,
            "--output_dir", tmp_path / "cv"]
    run_main(cross_validate.main, "--folds", "1,2", *argv)
    first = (tmp_path / "cv" / "fold-1" / "model.safetensors").stat().st_mtime_ns
    result = run_main(cross_validate.main, "--folds", "1,2,3", *argv)  # as if the run had stopped after fold 2
    assert (tmp_path / "cv" / "fold-1" / "model.safetensors").stat().st_mtime_ns == first
    assert sorted(result["folds"]) == ["1", "2", "3"]
    with pytest.raises(ValueError, match=r"--eval_folds \['7'\] not found"):
        run_main(cross_validate.main, "--folds", "7", *argv)
    with pytest.raises(SystemExit):  # no --do_eval: nothing to average
        run_main(cross_validate.main, "--folds", "1", *[a for a in argv if a != "--do_eval"])
    with pytest.raises(ValueError, match="go together"):
        run_main(train_classifier.main, *argv[2:], "--eval_folds", "1")
