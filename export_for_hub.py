"""`python -m specformers.export_for_hub MODEL_DIR OUT_DIR`: a saved specformers model -> a flat folder that loads
with `trust_remote_code=True` and no specformers installed (see `hub_cards/export.py`)."""

from __future__ import annotations

import argparse

from specformers.hub_cards.export import export_for_hub

__all__ = ["export_for_hub"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_dir", help="folder of a model saved with save_pretrained (with its feature extractor)")
    parser.add_argument("out_dir", help="folder to write; upload it with `hf upload <repo_id> OUT_DIR`")
    args = parser.parse_args(argv)
    out_dir = export_for_hub(args.model_dir, args.out_dir)
    print(f"Exported {args.model_dir} -> {out_dir}; load it with "
          f"AutoModelForAudioClassification.from_pretrained({out_dir!r}, trust_remote_code=True).")


if __name__ == "__main__":
    main()
