"""Build `kws_mini/` — the small keyword corpus shipped with specformers for the quickstart — from the output of
`make_corpus.py` (see kws_mini/README.md for the exact command): six command words, Opus-compressed clips in
one parquet file per split (audio bytes + label + voice)."""

from __future__ import annotations

import argparse
import csv
import io
import os

import pyarrow as pa
import pyarrow.parquet as pq
import soundfile

WORDS = ("yes", "no", "up", "down", "left", "right")
SPLITS = {"train": 60, "validation": 12, "test": 12}  # clips per word


def opus_bytes(path: str) -> bytes:
    audio, rate = soundfile.read(path, dtype="float32")
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format="OGG", subtype="OPUS")
    return buffer.getvalue()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kws_folder", help="the kws/ folder written by make_corpus.py")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "kws_mini"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for split, per_word in SPLITS.items():
        with open(os.path.join(args.kws_folder, split, "metadata.csv")) as f:
            rows = sorted((r for r in csv.DictReader(f) if r["label"] in WORDS), key=lambda r: r["file_name"])
        chosen = [r for word in WORDS for r in [r for r in rows if r["label"] == word][:per_word]]
        table = pa.table({
            "audio": [{"bytes": opus_bytes(os.path.join(args.kws_folder, split, r["file_name"])),
                       "path": os.path.basename(r["file_name"]).replace(".wav", ".opus")} for r in chosen],
            "label": [r["label"] for r in chosen],
            "voice": [r["voice"] for r in chosen],
        })
        pq.write_table(table, os.path.join(args.out, f"{split}.parquet"))
        print(f"{split}: {len(chosen)} clips")


if __name__ == "__main__":
    main()
