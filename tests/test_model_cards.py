"""Model cards: metadata that huggingface_hub parses back, base_model only for Hub ids, a licence or a note asking
for one, and no sentence about data the card does not know."""

import os

from huggingface_hub import ModelCard

from specformers import ASiTConfig, ASiTModel, SpectrogramFeatureExtractor
from specformers.hub_cards.model_card import card_for_saved_model, encoder_card, hub_model_id


def test_base_model_is_kept_only_when_it_is_a_hub_id(tmp_path):
    assert hub_model_id("MIT/ast-finetuned-audioset-10-10-0.4593") == "MIT/ast-finetuned-audioset-10-10-0.4593"
    assert hub_model_id(str(tmp_path)) is None and hub_model_id("just-a-name") is None and hub_model_id(None) is None
    os.makedirs(tmp_path / "owner" / "name")
    assert hub_model_id(str(tmp_path / "owner" / "name")) is None


def test_card_metadata_round_trips_and_says_what_it_does_not_know(tmp_path):
    encoder = ASiTModel(ASiTConfig.from_preset("asit-tiny"))
    extractor = SpectrogramFeatureExtractor.from_preset("speech_commands")
    card = encoder_card(encoder, extractor, model_path="my-encoder", dataset_name="owner/audio-corpus",
                        base_model="owner/asit-base", license="mit",
                        hyperparameters={"learning_rate": 0.0005, "optimizer_steps": 400})
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    assert loaded.data.to_dict() == card.data.to_dict()
    assert (loaded.data.license, loaded.data.base_model, loaded.data.datasets) == ("mit", "owner/asit-base",
                                                                                   ["owner/audio-corpus"])
    assert "| learning_rate | 0.0005 |" in loaded.text and "No licence was chosen" not in loaded.text
    assert "fine-tuned from `owner/asit-base` on owner/audio-corpus" in loaded.text

    encoder.save_pretrained(tmp_path / "saved")
    extractor.save_pretrained(tmp_path / "saved")
    unknown = card_for_saved_model(tmp_path / "saved")  # no record of its data or licence
    assert unknown.data.license == "other" and "No licence was chosen" in unknown.text
    assert "trained on data not recorded with it" in unknown.text
    assert "The training data is not recorded with this model" in unknown.text
    assert "the data named above" not in unknown.text
