"""Build `kws_mini/` — the small keyword corpus shipped with specformers for the quickstart — from a keyword corpus
written by `make_corpus.py` (kws_mini/README.md has the exact commands): every clip, Opus-compressed, in one
parquet file per split with the columns audio (bytes + path), label and voice."""

from __future__ import annotations

import argparse
import csv
import io
import os

import pyarrow as pa
import pyarrow.parquet as pq
import soundfile


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
    for split in ("train", "validation", "test"):
        folder = os.path.join(args.kws_folder, split)
        with open(os.path.join(folder, "metadata.csv")) as f:
            rows = list(csv.DictReader(f))
        table = pa.table({
            "audio": [{"bytes": opus_bytes(os.path.join(folder, row["file_name"])),
                       "path": os.path.basename(row["file_name"]).replace(".wav", ".opus")} for row in rows],
            "label": [row["label"] for row in rows],
            "voice": [row["voice"] for row in rows],
        })
        pq.write_table(table, os.path.join(args.out, f"{split}.parquet"))
        print(f"{split}: {len(rows)} clips")


if __name__ == "__main__":
    main()
