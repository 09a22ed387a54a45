"""Export a saved specformers model as a flat remote-code folder for the Hub: weights, config and preprocessor
config with `auto_map`, the card, and the source files the model needs, rewritten so every import between them is
a single-dot relative import. `AutoModel*.from_pretrained(folder, trust_remote_code=True)` then works in a Python
that has never heard of specformers."""

from __future__ import annotations

import json
import os
import re
import shutil

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the specformers folder

# model_type -> (configuration module, modeling module, config class, base model class, classifier class)
SOURCES = {
    "specformers-ast": ("configuration.configuration_ast", "modeling.modeling_ast",
                        "ASTConfig", "ASTModel", "ASTForAudioClassification"),
    "specformers-mast": ("configuration.configuration_mast", "modeling.modeling_mast",
                         "MASTConfig", "MASTModel", "MASTForAudioClassification"),
    "specformers-asit": ("configuration.configuration_asit", "modeling.modeling_asit",
                         "ASiTConfig", "ASiTModel", "ASiTForAudioClassification"),
}
EXTRACTOR_MODULE = "feature_extraction.feature_extraction_fbank"
EXTRACTOR_CLASS = "SpectrogramFeatureExtractor"
PREFIXES = ("configuration_", "modeling_", "feature_extraction_")  # what the flat file names start with

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


def export_for_hub(model_dir: str, out_dir: str) -> str:
    """Turn the saved specformers model in `model_dir` into a flat remote-code folder `out_dir` (returned).

    `out_dir` gets the weights, `config.json` and `preprocessor_config.json` with an `auto_map` for AutoConfig,
    AutoModel, AutoModelForAudioClassification and AutoFeatureExtractor, the model card (`README.md`, written
    if `model_dir` has none), and the self-contained `configuration_*.py`, `modeling_*.py` and
    `feature_extraction_*.py` files.
    """
    config_path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"{model_dir} has no config.json: pass the folder of a model saved with "
                                f"save_pretrained (a training run's --output_dir).")
    with open(config_path) as f:
        config = json.load(f)
    model_type = config.get("model_type")
    if model_type not in SOURCES:
        raise ValueError(f"{model_dir} holds a {model_type!r} model; export_for_hub exports the encoders and "
                         f"classifiers of {sorted(SOURCES)}. A pretraining checkpoint exports through the "
                         f"encoder its script saved (e.g. the output folder of pretrain_asit / pretrain_ssmast).")
    weights = sorted(name for name in os.listdir(model_dir) if WEIGHT_FILES.match(name))
    if not weights:
        raise FileNotFoundError(f"{model_dir} has no model.safetensors; save the model with save_pretrained.")
    if not os.path.isfile(os.path.join(model_dir, "preprocessor_config.json")):
        raise FileNotFoundError(f"{model_dir} has no preprocessor_config.json: save the feature extractor beside "
                                f"the model (extractor.save_pretrained(model_dir)).")
    config_module, modeling_module, config_class, model_class, classifier_class = SOURCES[model_type]
    os.makedirs(out_dir, exist_ok=True)

    sources = module_closure([config_module, modeling_module, EXTRACTOR_MODULE])
    for module, source in sources.items():
        with open(os.path.join(out_dir, flat_name(module) + ".py"), "w") as f:
            f.write(flatten_imports(module, source))

    modeling, configuration = flat_name(modeling_module), flat_name(config_module)
    config["auto_map"] = {
        "AutoConfig": f"{configuration}.{config_class}",
        "AutoModel": f"{modeling}.{model_class}",
        "AutoModelForAudioClassification": f"{modeling}.{classifier_class}",
        "AutoFeatureExtractor": f"{flat_name(EXTRACTOR_MODULE)}.{EXTRACTOR_CLASS}",
    }
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    with open(os.path.join(model_dir, "preprocessor_config.json")) as f:
        preprocessor = json.load(f)
    preprocessor["auto_map"] = {"AutoFeatureExtractor": config["auto_map"]["AutoFeatureExtractor"]}
    with open(os.path.join(out_dir, "preprocessor_config.json"), "w") as f:
        json.dump(preprocessor, f, indent=2, sort_keys=True)
    for name in weights:
        shutil.copyfile(os.path.join(model_dir, name), os.path.join(out_dir, name))
    card = os.path.join(model_dir, "README.md")
    if os.path.isfile(card):
        shutil.copyfile(card, os.path.join(out_dir, "README.md"))
    else:
        from .model_card import card_for_saved_model
        card_for_saved_model(model_dir).save(os.path.join(out_dir, "README.md"))
    return out_dir
