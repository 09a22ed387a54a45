"""Write one embedding per clip of a `datasets` split, for a probe or another toolkit.

    specformers-embed --model_name_or_path asit-run --dataset_name DIR_OR_HUB_ID --split train \\
        --output embeddings.parquet           # or embeddings.npz

The embedding is the HEAR scene embedding (`specformers.hear`): the encoder's pooled output, averaged over the
windows of a clip longer than the model's input. A `.parquet` output has the columns `id`, `label` and `embedding`
(float32 lists), written batch by batch (a streamed split never sits in memory); a `.npz` holds the arrays
`embeddings` `(clips, hidden)`, `ids` and `labels` (strings; a multi-label clip's names joined by ","). Unreadable
clips are skipped and counted.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
from tqdm.auto import tqdm

if __name__ == "__main__" and not __package__:  # run by path
    from specformers.training.run_by_path import run_as_module

    run_as_module(__file__)

from .feature_extraction.audio_input import AudioDecodeError, decode_audio_value
from .hear import load_model
from .training.classification_data import class_names
from .training.data import load_audio_dataset

FORMATS = (".parquet", ".npz")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="specformers-embed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_name_or_path", required=True,
                        help="A saved AST, MAST or ASiT encoder or classifier (folder or Hub id).")
    parser.add_argument("--dataset_name", required=True, help="A Hub id or a local folder (as train_classifier).")
    parser.add_argument("--dataset_config_name", default=None)
    parser.add_argument("--split", default="train")
    parser.add_argument("--output", required=True, help=f"The file to write: {' or '.join(FORMATS)}.")
    parser.add_argument("--audio_column_name", default="audio")
    parser.add_argument("--label_column_name", default="label",
                        help="Copied beside each embedding (left out when the split has no such column).")
    parser.add_argument("--id_column_name", default=None,
                        help="Column naming each clip (default: the audio file's path, else the row number).")
    parser.add_argument("--streaming", action="store_true", help="Read the split as a stream.")
    parser.add_argument("--max_samples", type=int, default=None, help="Embed the first N clips only.")
    parser.add_argument("--batch_size", type=int, default=16, help="Clips per batch.")
    parser.add_argument("--device", default=None, help="Default: cuda when there is one, else cpu.")
    parser.add_argument("--cache_dir", default=None)
    parser.add_argument("--token", default=None)
    parser.add_argument("--revision", default=None, help="Of the model.")
    args = parser.parse_args(argv)
    if not args.output.endswith(FORMATS):
        parser.error(f"--output must end with {' or '.join(FORMATS)}, got {args.output!r}.")
    return args


def clip_id(example: dict, row: int, audio_column: str, id_column: str | None) -> str:
    if id_column is not None:
        return str(example[id_column])
    value = example[audio_column]
    path = value.get("path") if isinstance(value, dict) else value if isinstance(value, str) else None
    return path or str(row)


def label_names(dataset, column: str):
    """A function from a label value to what is written: names for `ClassLabel` indices (lists of them too)."""
    names = class_names(dataset.features[column]) if dataset.features is not None else None
    if names is None:
        return lambda value: value
    return lambda value: [names[v] for v in value] if isinstance(value, list) else names[value]


class EmbeddingWriter:
    """Rows of (id, label, embedding) -> a parquet file written batch by batch, or an `.npz` at `close`."""

    def __init__(self, path: str):
        self.path, self.parquet = path, path.endswith(".parquet")
        self.writer, self.rows = None, {"ids": [], "labels": [], "embeddings": []}
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def write(self, ids: list[str], labels: list, embeddings: np.ndarray) -> None:
        if not self.parquet:
            self.rows["ids"] += ids
            self.rows["labels"] += [",".join(map(str, v)) if isinstance(v, list) else str(v) for v in labels]
            self.rows["embeddings"].append(embeddings)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        flat = pa.array(embeddings.reshape(-1), type=pa.float32())
        table = pa.table({"id": ids, "label": labels,
                          "embedding": pa.FixedSizeListArray.from_arrays(flat, embeddings.shape[1])})
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table.cast(self.writer.schema))

    def close(self, hidden_size: int) -> None:
        if self.parquet:
            if self.writer is None:  # no readable clip: an empty table still says what the columns are
                self.write([], [], np.zeros((0, hidden_size), np.float32))
            self.writer.close()
            return
        embeddings = np.concatenate(self.rows["embeddings"]) if self.rows["embeddings"] else np.zeros((0, hidden_size))
        np.savez(self.path, embeddings=embeddings.astype(np.float32), ids=np.array(self.rows["ids"], dtype=str),
                 labels=np.array(self.rows["labels"], dtype=str))


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    hub = {key: value for key, value in (("cache_dir", args.cache_dir), ("token", args.token),
                                         ("revision", args.revision)) if value is not None}
    model = load_model(args.model_name_or_path, batch_size=args.batch_size, **hub).to(device)
    dataset = load_audio_dataset(args.dataset_name, args.dataset_config_name, args.split, args.audio_column_name,
                                 args.streaming, cache_dir=args.cache_dir, token=args.token)
    columns = list(dataset.features) if dataset.features is not None else None
    if args.id_column_name is not None and columns is not None and args.id_column_name not in columns:
        raise ValueError(f"The {args.split!r} split has no column {args.id_column_name!r} (--id_column_name); its "
                         f"columns are {columns}.")
    has_labels = columns is None or args.label_column_name in columns
    to_label = label_names(dataset, args.label_column_name) if has_labels else None
    if args.max_samples is not None:
        dataset = dataset.take(args.max_samples) if args.streaming else dataset.select(
            range(min(args.max_samples, len(dataset))))
    total = None if args.streaming else len(dataset)

    writer, written, skipped, batch = EmbeddingWriter(args.output), 0, 0, []
    extractor = model.feature_extractor

    def flush():
        nonlocal written
        clips = [clip for _, _, clip in batch]
        embeddings = model.scene_embeddings(clips).cpu().numpy()
        writer.write([i for i, _, _ in batch], [label for _, label, _ in batch], embeddings)
        written += len(batch)
        batch.clear()

    for row, example in enumerate(tqdm(dataset, total=total, desc="embedding", unit="clip")):
        try:
            clip = extractor.mono_at_sampling_rate(*decode_audio_value(example[args.audio_column_name]))
        except (AudioDecodeError, ValueError) as err:
            skipped += 1
            tqdm.write(f"skipped clip {row}: {err}")
            continue
        label = to_label(example.get(args.label_column_name)) if to_label else None
        batch.append((clip_id(example, row, args.audio_column_name, args.id_column_name), label, clip))
        if len(batch) == args.batch_size:
            flush()
    if batch:
        flush()
    writer.close(model.scene_embedding_size)
    summary = {"clips": written, "skipped_clips": skipped, "embedding_size": model.scene_embedding_size,
               "output": args.output}
    print(f"Wrote {written} embeddings of size {model.scene_embedding_size} to {args.output}"
          + (f"; skipped {skipped} unreadable clips" if skipped else ""))
    return summary


def cli() -> None:
    main()


if __name__ == "__main__":
    main(sys.argv[1:])
