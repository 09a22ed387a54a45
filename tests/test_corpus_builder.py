"""The project's corpus builder (corpora/make_corpus.py): its signal pieces, and tiny keyword and note corpora built
with the real synthesisers (CI installs espeak-ng, fluidsynth and two small soundfonts; see .ci/run)."""

import csv
import importlib.util
import json
import os
import struct
import sys

import datasets
import numpy as np
import pytest
import soundfile
from system_tools import require

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("make_corpus", os.path.join(ROOT, "corpora", "make_corpus.py"))
make_corpus = sys.modules["make_corpus"] = importlib.util.module_from_spec(_spec)  # worker processes find it
_spec.loader.exec_module(make_corpus)


def read_split(folder):
    with open(os.path.join(folder, "metadata.csv")) as f:
        return list(csv.DictReader(f))


def band_power(noise, low, high):
    power = np.abs(np.fft.rfft(noise)) ** 2
    frequencies = np.fft.rfftfreq(len(noise), 1 / 16000)
    return power[(frequencies >= low) & (frequencies < high)].mean()


@pytest.mark.parametrize("colour, octave_drop_db", [("white", 0.0), ("pink", 3.0), ("brown", 6.0)])
def test_coloured_noise_falls_by_its_octave_slope(colour, octave_drop_db):
    noise = make_corpus.coloured_noise(colour, 160000, np.random.default_rng(0))
    assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0, rel=1e-4)
    drops = [10 * np.log10(band_power(noise, f, 2 * f) / band_power(noise, 2 * f, 4 * f)) for f in (250, 500, 1000)]
    assert np.allclose(drops, octave_drop_db, atol=0.8)


def test_sources_are_split_80_10_10_without_overlap():
    parts = make_corpus.split_sources(list(range(98)), np.random.default_rng(0))
    assert [len(parts[s]) for s in make_corpus.SPLITS] == [78, 10, 10]
    assert sorted(sum(parts.values(), [])) == list(range(98))
    assert [len(v) for v in make_corpus.split_sources(list("abcd"), np.random.default_rng(0)).values()] == [2, 1, 1]
    with pytest.raises(ValueError, match="2 sources cannot be divided"):
        make_corpus.split_sources(["a", "b"], np.random.default_rng(0))


def test_voiced_span_finds_a_burst_in_quiet_noise():
    audio = np.random.default_rng(0).normal(0, 1e-4, 16000).astype(np.float32)
    audio[4000:9600] += np.sin(np.arange(5600) * 0.2)
    assert make_corpus.voiced_span(audio) == (4000, 9600)


def test_midi_file_holds_each_note_and_silences_the_slot():
    data = make_corpus.midi_file([(0, 60, 100), (40, 72, 25)], slot_seconds=5.0, hold_seconds=3.0)
    assert data[:4] == b"MThd" and struct.unpack(">IHHH", data[4:14]) == (6, 0, 1, 480)
    assert data[14:18] == b"MTrk" and struct.unpack(">I", data[18:22])[0] == len(data) - 22
    track = data[22:]
    for message in (b"\xc0\x00", b"\x90\x3c\x64", b"\x80\x3c\x00", b"\xc0\x28", b"\x90\x48\x19", b"\xb0\x78\x00"):
        assert message in track
    assert track.endswith(b"\xff\x2f\x00")


def test_keyword_corpus_loads_as_audiofolder_with_speakers_split(tmp_path):
    require("espeak-ng")
    make_corpus.main(["--out", str(tmp_path), "--tasks", "kws", "--words", "yes", "no", "--kws_train", "3",
                      "--kws_eval", "2", "--no_flite", "--jobs", "1", "--seed", "3"])
    provenance = json.loads((tmp_path / "provenance.json").read_text())
    speakers = provenance["kws"]["speakers"]
    assert not set(speakers["train"]) & (set(speakers["validation"]) | set(speakers["test"]))
    assert not set(speakers["validation"]) & set(speakers["test"])
    assert provenance["kws"]["clips"]["test"] == {"yes": 2, "no": 2, "_unknown_": 2, "_silence_": 2}
    for split in make_corpus.SPLITS:
        rows = read_split(tmp_path / "kws" / split)
        voices = {f"espeak-ng:{row['voice']}" for row in rows if row["voice"]}
        assert voices <= set(speakers[split])
        for row in rows:
            audio, rate = soundfile.read(tmp_path / "kws" / split / row["file_name"])
            assert rate == 16000 and len(audio) == 16000
            if row["label"] == "_silence_":
                assert row["text"] == "" and -56 < float(row["rms_dbfs"]) < -24
            else:
                start, end = (int(float(row[k]) * 16000) for k in ("word_start_s", "word_end_s"))
                word, rest = audio[start:end], np.concatenate([audio[:start], audio[end:]])
                assert 0 < start < end <= 16000 and 0.05 < np.abs(audio).max() < 0.9
                assert rest.size == 0 or np.sqrt(np.mean(word**2)) > 1.5 * np.sqrt(np.mean(rest**2))
    corpus = datasets.load_dataset("audiofolder", data_dir=str(tmp_path / "kws"))
    assert corpus["train"].num_rows == 12 and set(corpus["train"]["label"]) == {"yes", "no", "_unknown_", "_silence_"}


def test_note_corpus_renders_each_family_and_never_repeats_a_note(tmp_path):
    require("fluidsynth", "/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/sf_GMbank.sf2")
    make_corpus.main(["--out", str(tmp_path), "--tasks", "notes", "--notes_train", "1", "--notes_eval", "2",
                      "--soundfonts", "TimGM6mb.sf2", "sf_GMbank.sf2", "sf_GMbank.sf2", "--note_seconds", "1",
                      "--jobs", "1"])
    notes = {}
    for split in make_corpus.SPLITS:
        rows = read_split(tmp_path / "notes" / split)
        assert {row["soundfont"] for row in rows} == {"TimGM6mb.sf2" if split == "train" else "sf_GMbank.sf2"}
        assert {row["label"] for row in rows} <= set(make_corpus.FAMILIES)
        notes[split] = {(row["program"], row["pitch"], row["velocity"]) for row in rows}
        for row in rows:
            programs, (low, high) = make_corpus.FAMILIES[row["label"]]
            assert int(row["program"]) in programs and low <= int(row["pitch"]) <= high
            audio, rate = soundfile.read(tmp_path / "notes" / split / row["file_name"])
            assert rate == 16000 and len(audio) == 16000 and np.abs(audio).max() == pytest.approx(0.708, abs=2e-3)
    assert not notes["validation"] & notes["test"]
    provenance = json.loads((tmp_path / "provenance.json").read_text())["notes"]
    kept = sum(sum(counts.values()) for counts in provenance["clips"].values())
    assert kept + sum(provenance["silent_notes_left_out"].values()) == 11 * (1 + 2 + 2)
