"""Export a saved specformers AST as transformers' own AST (model type `audio-spectrogram-transformer`): weights,
config and transformers' `ASTFeatureExtractor` settings, which plain `transformers` loads with no specformers and
no remote code (and so Optimum's ONNX export, the Hub's widgets and transformers.js).

    python -m specformers.export_transformers MODEL_DIR OUT_DIR

MAST and ASiT have no transformers twin: export them with `export_for_hub` (remote code).
"""

from __future__ import annotations

import argparse
import json
import os

from .configuration.configuration_ast import ASTConfig
from .export_for_hub import copy_card, require
from .feature_extraction.feature_extraction_fbank import SpectrogramFeatureExtractor
from .modeling.modeling_ast import ASTForAudioClassification, ASTModel


def export_transformers(model_dir: str, out_dir: str) -> str:
    """Write the transformers AST equivalent to the specformers AST saved in `model_dir` into `out_dir` (returned):
    `ASTForAudioClassification` for a classifier, `ASTModel` for an encoder; the card (`README.md`) is copied.
    What transformers' AST or its extractor cannot represent is a ValueError before anything is written."""
    require(model_dir, "config.json")
    with open(os.path.join(model_dir, "config.json")) as f:
        model_type = json.load(f).get("model_type")
    if model_type != ASTConfig.model_type:
        raise ValueError(f"{model_dir} holds a {model_type!r} model; only specformers ASTs ({ASTConfig.model_type}) "
                         "have a transformers twin. Export MAST and ASiT with `python -m specformers.export_for_hub` "
                         "(remote code).")
    require(model_dir, "preprocessor_config.json")
    config = ASTConfig.from_pretrained(model_dir)
    is_classifier = any(name.endswith("ForAudioClassification") for name in config.architectures or [])
    model = (ASTForAudioClassification if is_classifier else ASTModel).from_pretrained(model_dir)
    extractor = SpectrogramFeatureExtractor.from_pretrained(model_dir).to_transformers()
    native = model.to_transformers()
    native.save_pretrained(out_dir)
    extractor.save_pretrained(out_dir)
    copy_card(model_dir, out_dir)
    return out_dir


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", help="A saved specformers AST (classifier or encoder) with its extractor.")
    parser.add_argument("out_dir", help="Where to write the transformers AST folder.")
    args = parser.parse_args(argv)
    out = export_transformers(args.model_dir, args.out_dir)
    print(f"Exported {args.model_dir} -> {out}; load it with plain transformers: "
          f"AutoModelForAudioClassification.from_pretrained({out!r}).")


if __name__ == "__main__":
    main()
