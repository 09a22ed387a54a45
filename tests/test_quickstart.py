"""The README's main command, shortened (a few steps instead of hundreds): every stage runs on the shipped corpus
and leaves its files where the summary says. The full-length run is `make quickstart` (CI runs it too)."""

import json

import pyarrow.parquet as pq
import yaml

from specformers import quickstart


def test_shipped_corpus_has_the_documented_splits():
    for split, count in (("train", 360), ("validation", 72), ("test", 72)):
        table = pq.read_table(f"{quickstart.CORPUS}/{split}.parquet")
        assert table.num_rows == count and set(table.column_names) == {"audio", "label", "voice"}
        assert sorted(set(table.column("label").to_pylist())) == ["down", "left", "no", "right", "up", "yes"]
    voices = {split: set(pq.read_table(f"{quickstart.CORPUS}/{split}.parquet").column("voice").to_pylist())
              for split in ("train", "validation", "test")}
    assert not voices["train"] & voices["test"] and not voices["train"] & voices["validation"]


def test_quickstart_runs_every_step(tmp_path, capsys):
    quickstart.main(["--output_dir", str(tmp_path), "--pretrain_steps", "3", "--finetune_steps", "4"])
    encoder, classifier = tmp_path / "asit-pretrained", tmp_path / "asit-keywords"
    assert json.loads((encoder / "config.json").read_text())["model_type"] == "specformers-asit"
    encoder_card = yaml.safe_load((encoder / "README.md").read_text().split("---")[1])
    assert encoder_card["pipeline_tag"] == "feature-extraction"
    for picture in (encoder / "loss_curves.png", encoder / "gmml_reconstruction.png",
                    classifier / "loss_curves.png", classifier / "eval_confusion_matrix.png",
                    classifier / "test" / "eval_confusion_matrix.png"):
        assert picture.stat().st_size > 10_000, picture
    card_text = (classifier / "README.md").read_text()
    card = yaml.safe_load(card_text.split("---")[1])
    assert "base_model" not in card and "fine-tuned from a local model (`asit-pretrained`)" in card_text
    assert card["license"] == "other" and "No licence was chosen" in card_text  # none given, none inherited
    results = json.loads((classifier / "all_results.json").read_text())
    assert card["model-index"][0]["results"][0]["metrics"][0]["value"] == results["eval_accuracy"]
    assert (tmp_path / "asit-keywords-hub" / "modeling_asit.py").exists()
    printed = capsys.readouterr().out
    assert "$ python -m specformers.training.pretrain_asit --dataset_name" in printed
    assert "through pipeline('audio-classification')" in printed and "window by window" in printed
    test_accuracy = json.loads((classifier / "test" / "all_results.json").read_text())["eval_accuracy"]
    assert f"Test accuracy {test_accuracy:.3f}" in printed
