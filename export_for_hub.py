"""Export a saved specformers model as a flat remote-code folder for the Hub: weights, config and preprocessor
config with `auto_map`, the card, and the source files the model needs, rewritten so every import between them is
a single-dot relative import. `AutoModel*.from_pretrained(folder, trust_remote_code=True)` then works in a Python
that has never heard of specformers.

    python -m specformers.export_for_hub MODEL_DIR OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil

from .families import FAMILIES, family_of
from .feature_extraction.feature_extraction_fbank import SpectrogramFeatureExtractor

PACKAGE_ROOT = os.path.dirname(os.path.abspath(__file__))  # the specformers folder
EXTRACTOR_MODULE = "feature_extraction.feature_extraction_fbank"
EXTRACTOR_CLASS = SpectrogramFeatureExtractor.__name__
PREFIXES = ("configuration_", "modeling_", "feature_extraction_")  # what the flat file names start with

# what a training run leaves beside the weights that the Hub repository should show too
RESULT_FILES = ("all_results.json", "train_results.json", "eval_results.json", "eval_per_class.json",
                "eval_confusion_matrix.png", "loss_curves.png", "train_log.jsonl", "pretraining_state.json")
WEIGHT_FILES = re.compile(r"^model(-\d+-of-\d+)?\.safetensors(\.index\.json)?$")
RELATIVE_IMPORT = re.compile(r"^(?P<indent>\s*)from\s+(?P<dots>\.+)(?P<module>[\w.]*)\s+import\s", re.MULTILINE)


def flat_name(module: str) -> str:
    """`modeling.spectrogram_vit` -> `modeling_spectrogram_vit`: the module's name in the flat folder."""
    leaf = module.rsplit(".", 1)[-1]
    return leaf if leaf.startswith(PREFIXES) else f"{module.split('.')[0]}_{leaf}"


def resolve(importer: str, dots: str, module: str) -> str:
    """The package-relative name (`modeling.layers`) of `from {dots}{module} import ...` inside `importer`."""
    base = importer.split(".")[:-len(dots)]
    return ".".join(base + ([module] if module else []))


def module_closure(roots: list[str]) -> dict[str, str]:
    """Source of `roots` and of every specformers module they import (also inside functions), by module name."""
    sources, todo = {}, list(roots)
    while todo:
        module = todo.pop()
        if module in sources:
            continue
        with open(os.path.join(PACKAGE_ROOT, *module.split(".")) + ".py") as f:
            sources[module] = f.read()
        todo += [resolve(module, m["dots"], m["module"]) for m in RELATIVE_IMPORT.finditer(sources[module])]
    return sources


def flatten_imports(module: str, source: str) -> str:
    """Rewrite the relative imports of `module` to single-dot imports of the flat files."""
    def rewrite(match):
        target = resolve(module, match["dots"], match["module"])
        return f"{match['indent']}from .{flat_name(target)} import "
    flat = RELATIVE_IMPORT.sub(rewrite, source)
    if re.search(r"^\s*(from|import)\s+specformers\b", flat, re.MULTILINE):
        raise ValueError(f"{module} imports specformers by absolute name; it cannot be exported as remote code.")
    return flat


def package_module(cls: type) -> str:
    """`specformers.modeling.modeling_ast.ASTModel` -> `modeling.modeling_ast`: where a class lives in the package."""
    return cls.__module__.split(".", 1)[1]


def export_for_hub(model_dir: str, out_dir: str) -> str:
    """Turn the saved specformers model in `model_dir` into a flat remote-code folder `out_dir` (returned).

    `out_dir` gets the weights, `config.json` and `preprocessor_config.json` with an `auto_map` for AutoConfig,
    AutoModel, AutoModelForAudioClassification and AutoFeatureExtractor, the model card (`README.md`, written
    if `model_dir` has none), the run's results (`all_results.json`, the confusion matrix, ...) when there are
    some, and the self-contained `configuration_*.py`, `modeling_*.py` and `feature_extraction_*.py` files.
    """
    require(model_dir, "config.json")
    family_in(model_dir)
    weights = sorted(name for name in os.listdir(model_dir) if WEIGHT_FILES.match(name))
    if not weights:
        raise FileNotFoundError(f"{model_dir} has no model.safetensors; save the model with save_pretrained.")
    require(model_dir, "preprocessor_config.json")
    os.makedirs(out_dir, exist_ok=True)
    for name in [*weights, "config.json", "preprocessor_config.json", *RESULT_FILES]:
        if os.path.isfile(os.path.join(model_dir, name)):
            shutil.copyfile(os.path.join(model_dir, name), os.path.join(out_dir, name))
    if not copy_card(model_dir, out_dir):
        from .hub_cards.model_card import card_for_saved_model
        card_for_saved_model(model_dir).save(os.path.join(out_dir, "README.md"))
    write_remote_code(out_dir)
    return out_dir


# what each export needs of a saved folder, and how to write it when it is missing
SAVED_FILES = {"config.json": "pass the folder of a model saved with save_pretrained (a training run's --output_dir)",
               "preprocessor_config.json": "save the feature extractor beside the model "
                                           "(extractor.save_pretrained(model_dir))"}


def require(model_dir: str, name: str) -> None:
    """A FileNotFoundError saying how to write `name` (a key of `SAVED_FILES`) when `model_dir` lacks it."""
    if not os.path.isfile(os.path.join(model_dir, name)):
        raise FileNotFoundError(f"{model_dir} has no {name}: {SAVED_FILES[name]}.")


def copy_card(model_dir: str, out_dir: str) -> bool:
    """Copy the model card (`README.md`) of `model_dir` into `out_dir`; False when there is none."""
    card = os.path.join(model_dir, "README.md")
    if not os.path.isfile(card):
        return False
    shutil.copyfile(card, os.path.join(out_dir, "README.md"))
    return True


def family_in(folder: str):
    """The specformers family of the model saved in `folder` (a ValueError for any other model)."""
    with open(os.path.join(folder, "config.json")) as f:
        model_type = json.load(f).get("model_type")
    family = family_of(model_type)
    if family is None:
        raise ValueError(f"{folder} holds a {model_type!r} model; export_for_hub exports the encoders and "
                         f"classifiers of {sorted(f.model_type for f in FAMILIES)}. A pretraining checkpoint "
                         f"exports through the encoder its script saved (e.g. the output folder of pretrain_asit / "
                         f"pretrain_ssmast).")
    return family


def write_remote_code(folder: str) -> None:
    """Write into a saved model's `folder` the flat source files its model (and, when `preprocessor_config.json`
    is there, its feature extractor) needs, and the `auto_map` that points transformers' Auto classes at them."""
    family = family_in(folder)
    config_module, modeling_module = package_module(family.config_class), package_module(family.model_class)
    if package_module(family.classifier_class) != modeling_module:
        raise ValueError(f"{family.name}'s encoder and classifier live in different modules; the export expects one.")
    preprocessor_path = os.path.join(folder, "preprocessor_config.json")
    with_extractor = os.path.isfile(preprocessor_path)
    sources = module_closure([config_module, modeling_module] + ([EXTRACTOR_MODULE] if with_extractor else []))
    for module, source in sources.items():
        with open(os.path.join(folder, flat_name(module) + ".py"), "w") as f:
            f.write(flatten_imports(module, source))

    modeling, configuration = flat_name(modeling_module), flat_name(config_module)
    auto_map = {"AutoConfig": f"{configuration}.{family.config_class.__name__}",
                "AutoModel": f"{modeling}.{family.model_class.__name__}",
                "AutoModelForAudioClassification": f"{modeling}.{family.classifier_class.__name__}"}
    if with_extractor:
        auto_map["AutoFeatureExtractor"] = f"{flat_name(EXTRACTOR_MODULE)}.{EXTRACTOR_CLASS}"
        _add_auto_map(preprocessor_path, {"AutoFeatureExtractor": auto_map["AutoFeatureExtractor"]})
    _add_auto_map(os.path.join(folder, "config.json"), auto_map)


def _add_auto_map(path: str, auto_map: dict) -> None:
    with open(path) as f:
        values = json.load(f)
    values["auto_map"] = auto_map
    with open(path, "w") as f:
        json.dump(values, f, indent=2, sort_keys=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", help="folder of a model saved with save_pretrained (with its feature extractor)")
    parser.add_argument("out_dir", help="folder to write; upload it with `hf upload <repo_id> OUT_DIR`")
    args = parser.parse_args(argv)
    out_dir = export_for_hub(args.model_dir, args.out_dir)
    print(f"Exported {args.model_dir} -> {out_dir}; load it with "
          f"AutoModelForAudioClassification.from_pretrained({out_dir!r}, trust_remote_code=True).")


if __name__ == "__main__":
    main()
