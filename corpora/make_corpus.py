"""Build small synthetic audio-classification corpora: spoken keywords (`kws`) and instrument notes (`notes`).

Nothing is recorded or downloaded. Keywords are spoken by espeak-ng's formant synthesiser (and by flite's voices
when flite is installed); notes are rendered from General-MIDI soundfonts by fluidsynth; background noise is
generated here. Splits are made by source, so the validation and test splits are heard from voices (kws) and
soundfonts (notes) that training never hears:

  kws    Speech Commands style: the ten command words, `_unknown_` (other words) and `_silence_` (noise only),
         1 s clips. Each clip draws a speaker, an English accent, a speaking rate and a pitch; the word is trimmed,
         placed at a random offset, mixed with white/pink/brown noise at 5-30 dB SNR (80 % of the clips) and
         scaled to a random peak level. Speakers (espeak-ng voice variants, flite voices) are divided 80/10/10.
  notes  NSynth-style instrument families (11), one note per 4 s clip at 5 velocities over each family's range.
         Train: FluidR3_GM and TimGM6mb; validation and test: sf_GMbank, the two never sharing a note.

Output, in datasets' "audiofolder" layout (`load_dataset("audiofolder", data_dir=OUT/kws)`):
  OUT/<task>/<split>/metadata.csv and OUT/<task>/<split>/<label>/<file>.wav   (16 kHz mono PCM-16)
  OUT/provenance.json   the command's settings, tool versions, the speakers/soundfonts of each split, counts

Needs numpy, soundfile and soxr (installed with specformers) and the programs
  kws:   apt-get install espeak-ng                                      (optional: flite)
  notes: apt-get install fluidsynth fluid-soundfont-gm timgm6mb-soundfont csound-soundfont

    python corpora/make_corpus.py --out corpus --tasks kws notes --size small
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from multiprocessing import Pool

import numpy as np
import soundfile
import soxr

SAMPLE_RATE = 16000
SPLITS = ("train", "validation", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
# clips per label: (train, validation and test each)
SIZES = {"tiny": {"kws": (20, 5), "notes": (10, 4)}, "small": {"kws": (100, 20), "notes": (40, 10)},
         "medium": {"kws": (500, 100), "notes": (200, 50)}, "large": {"kws": (2000, 300), "notes": (1000, 200)}}

COMMAND_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
OTHER_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "tree", "wow", "learn", "follow", "forward",
               "backward", "visual", "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
UNKNOWN, SILENCE = "_unknown_", "_silence_"
ESPEAK_ACCENTS = ("en-us", "en-us-nyc", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
                  "en-029")
FLITE_SPEAKERS = {"kal": ("kal", "kal16"), "awb": ("awb",), "rms": ("rms",), "slt": ("slt",)}  # kal16: kal at 16 kHz
NOISE_COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power falls as 1 / f ** exponent

SOUNDFONT_DIR = "/usr/share/sounds/sf2"
NOTE_SOUNDFONTS = {"train": ("FluidR3_GM.sf2", "TimGM6mb.sf2"), "validation": ("sf_GMbank.sf2",),
                   "test": ("sf_GMbank.sf2",)}
SOUNDFONT_PACKAGES = {"FluidR3_GM.sf2": "fluid-soundfont-gm", "TimGM6mb.sf2": "timgm6mb-soundfont",
                      "sf_GMbank.sf2": "csound-soundfont"}
# NSynth instrument family -> (General-MIDI programs, 0-based; MIDI pitch range played)
FAMILIES = {
    "keyboard": (range(0, 8), (36, 96)),
    "mallet": ((*range(8, 16), 108), (53, 96)),
    "organ": (range(16, 21), (36, 91)),
    "reed": ((21, 22, 23, *range(64, 72), 109, 111), (43, 84)),
    "guitar": ((*range(24, 32), 104, 105, 106, 107), (40, 84)),
    "bass": (range(32, 40), (28, 64)),
    "string": ((*range(40, 47), 48, 49, 50, 51, 110), (40, 91)),
    "vocal": ((52, 53, 54), (48, 79)),
    "brass": (range(56, 64), (40, 82)),
    "flute": (range(72, 80), (60, 96)),
    "synth_lead": (range(80, 88), (36, 91)),
}
VELOCITIES = (25, 50, 75, 100, 127)


def run(command: list[str], **kwargs) -> bytes:
    """Run a program; its stderr in the error when it fails."""
    done = subprocess.run(command, capture_output=True, **kwargs)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.decode(errors='replace')[:400]}")
    return done.stdout


def tool_version(program: str) -> str:
    done = subprocess.run([program, "--version"], capture_output=True, text=True)  # flite's exits with 1
    lines = (done.stdout or done.stderr).strip().splitlines()
    return next((line for line in lines if "version" in line.lower()), lines[0] if lines else "")


def split_sources(sources: list, rng: np.random.Generator) -> dict[str, list]:
    """Shuffle the sources (speakers, ...) and cut them 80/10/10 into the splits; each split gets at least one."""
    if len(sources) < len(SPLITS):
        raise ValueError(f"{len(sources)} sources cannot be divided between {len(SPLITS)} splits")
    order = [sources[i] for i in rng.permutation(len(sources))]
    n_eval = [max(1, round(len(order) * fraction)) for fraction in SPLIT_FRACTIONS[1:]]
    n_train = len(order) - sum(n_eval)
    return {"train": order[:n_train], "validation": order[n_train:n_train + n_eval[0]],
            "test": order[n_train + n_eval[0]:]}


def coloured_noise(colour: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) noise at unit RMS whose power spectrum falls as 1 / f ** NOISE_COLOURS[colour]."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    frequencies = np.fft.rfftfreq(n)
    frequencies[0] = frequencies[1]  # no infinite gain at DC
    noise = np.fft.irfft(spectrum / frequencies ** (NOISE_COLOURS[colour] / 2), n)
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def write_clip(path: str, audio: np.ndarray):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    soundfile.write(path, np.clip(audio, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")


def write_split(folder: str, rows: list[dict]):
    """metadata.csv of one split (file_name first, as audiofolder expects), rows in file order."""
    os.makedirs(folder, exist_ok=True)
    rows = sorted(rows, key=lambda row: row["file_name"])
    with open(os.path.join(folder, "metadata.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def rms_dbfs(audio: np.ndarray) -> float:
    return round(float(20 * np.log10(np.sqrt(np.mean(audio**2)) + 1e-12)), 1)


# ---------------------------------------------------------------------------------------------- keywords
@dataclass(frozen=True)
class Utterance:
    """How one word is spoken: `rate` is words/min (espeak-ng) or a duration stretch (flite); `pitch` is
    espeak-ng's 0-99 or flite's mean F0 in Hz."""

    engine: str
    voice: str
    accent: str
    rate: float
    pitch: int
    text: str


def speak(utterance: Utterance) -> np.ndarray:
    """Synthesise the utterance, as a float32 waveform at SAMPLE_RATE."""
    if utterance.engine == "espeak-ng":
        wav = run(["espeak-ng", "-v", f"{utterance.accent}+{utterance.voice}", "-s", str(int(utterance.rate)),
                   "-p", str(utterance.pitch), "--stdout", utterance.text])
        audio, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    else:
        with tempfile.NamedTemporaryFile(suffix=".wav") as out:
            run(["flite", "-voice", utterance.voice, "--setf", f"duration_stretch={utterance.rate}",
                 "--setf", f"int_f0_target_mean={utterance.pitch}", "-t", utterance.text, "-o", out.name])
            audio, rate = soundfile.read(out.name, dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    return soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32) if rate != SAMPLE_RATE else audio


def voiced_span(audio: np.ndarray, frame: int = 160) -> tuple[int, int]:
    """(start, end) samples of the part louder than both 45 dB under the peak frame and 12 dB over the quietest
    tenth: the synthesisers pad words with silence of varying length."""
    n = len(audio) // frame
    if n == 0:
        return 0, len(audio)
    level = 10 * np.log10(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(level > max(level.max() - 45, np.percentile(level, 10) + 12))
    return (int(loud[0]) * frame, (int(loud[-1]) + 1) * frame) if len(loud) else (0, len(audio))


def fit_word(utterance: Utterance, length: int) -> tuple[np.ndarray, Utterance]:
    """The trimmed word, at most `length` samples: a word too long is spoken faster (up to twice), then cut to its
    loudest `length` samples. Returns the audio and the utterance as finally spoken."""
    for attempt in range(3):
        audio = speak(utterance)
        start, end = voiced_span(audio)
        audio = audio[start:end]
        if len(audio) <= length or attempt == 2:
            break
        faster = utterance.rate * 1.3 if utterance.engine == "espeak-ng" else utterance.rate / 1.3
        utterance = Utterance(**{**asdict(utterance), "rate": round(faster, 2)})
    if len(audio) > length:
        energy = np.concatenate([[0.0], np.cumsum(audio.astype(np.float64) ** 2)])
        start = int(np.argmax(energy[length:] - energy[:-length]))
        audio = audio[start:start + length]
    return audio, utterance


@dataclass(frozen=True)
class KeywordClip:
    split: str
    label: str
    file_name: str
    utterance: Utterance | None  # None: a `_silence_` clip
    seed: int


def render_keyword(clip: KeywordClip, out: str, clip_seconds: float, noise_share: float,
                   snr_db: tuple[float, float]) -> dict:
    """Write one keyword clip; returns its metadata row."""
    rng = np.random.default_rng(clip.seed)
    length = int(clip_seconds * SAMPLE_RATE)
    colour = str(rng.choice(sorted(NOISE_COLOURS)))
    noise = coloured_noise(colour, length, rng)
    row = {"file_name": clip.file_name, "label": clip.label}
    if clip.utterance is None:
        audio = noise * 10 ** (rng.uniform(-55, -25) / 20)
        row.update(text="", engine="", voice="", accent="", rate="", pitch="", noise=colour, snr_db="",
                   word_start_s="", word_end_s="")
    else:
        word, spoken = fit_word(clip.utterance, length)
        start = int(rng.integers(0, length - len(word) + 1))
        audio = np.zeros(length, np.float32)
        audio[start:start + len(word)] = word
        with_noise = rng.random() < noise_share
        snr = float(rng.uniform(*snr_db))
        if with_noise:
            audio += noise * np.sqrt(np.mean(word**2)) / 10 ** (snr / 20)
        audio *= 10 ** (rng.uniform(-12, -1) / 20) / (np.abs(audio).max() + 1e-9)  # peak level
        row.update(text=spoken.text, engine=spoken.engine, voice=spoken.voice, accent=spoken.accent,
                   rate=spoken.rate, pitch=spoken.pitch, noise=colour if with_noise else "",
                   snr_db=round(snr, 1) if with_noise else "", word_start_s=round(start / SAMPLE_RATE, 3),
                   word_end_s=round((start + len(word)) / SAMPLE_RATE, 3))
    write_clip(os.path.join(out, clip.split, clip.file_name), audio)
    return {**row, "rms_dbfs": rms_dbfs(audio)}


def espeak_voices() -> list[str]:
    """espeak-ng's voice variants, one per distinct sound: variants that render a probe word identically (in
    espeak-ng 1.51 `klatt` and `klatt6` sound exactly like `caleb`) would put one voice in two splits."""
    data = run(["espeak-ng", "--version"]).decode().split("Data at:")[-1].strip()
    folder = os.path.join(data, "voices", "!v")
    if not os.path.isdir(folder):
        raise SystemExit(f"espeak-ng's voice variants are not in {folder}: apt-get install espeak-ng-data")
    voices, seen = [], set()
    for name in sorted(os.listdir(folder)):
        if " " in name:  # not addressable as accent+variant on the command line
            continue
        sound = hashlib.sha1(run(["espeak-ng", "-v", f"en-us+{name}", "--stdout", "seven"])).hexdigest()
        if sound not in seen:
            seen.add(sound)
            voices.append(name)
    return voices


def plan_keywords(args, rng: np.random.Generator) -> tuple[list[KeywordClip], dict]:
    """Every keyword clip to render, and the speakers of each split."""
    by_split = split_sources([("espeak-ng", voice) for voice in espeak_voices()], rng)
    if args.flite and shutil.which("flite"):
        for split, speakers in split_sources(sorted(FLITE_SPEAKERS), rng).items():
            by_split[split] += [("flite", voice) for speaker in speakers for voice in FLITE_SPEAKERS[speaker]]
    labels = list(args.words) + ([UNKNOWN] if args.unknown else []) + ([SILENCE] if args.silence else [])
    per_label = dict(zip(SPLITS, (args.kws_train, args.kws_eval, args.kws_eval)))
    clips = []
    for split in SPLITS:
        for label in labels:
            for i in range(per_label[split]):
                utterance = None
                if label != SILENCE:
                    engine, voice = by_split[split][int(rng.integers(len(by_split[split])))]
                    text = str(rng.choice(OTHER_WORDS)) if label == UNKNOWN else label
                    if engine == "espeak-ng":
                        utterance = Utterance(engine, voice, str(rng.choice(ESPEAK_ACCENTS)),
                                              int(rng.integers(120, 221)), int(rng.integers(15, 86)), text)
                    else:
                        utterance = Utterance(engine, voice, "en-us", round(float(rng.uniform(0.8, 1.3)), 2),
                                              int(rng.integers(80, 200)), text)
                speaker = "noise" if utterance is None else f"{utterance.engine}-{utterance.voice}"
                clips.append(KeywordClip(split, label, f"{label}/{speaker}_{split}_{i:05d}.wav", utterance,
                                         int(rng.integers(2**31))))
    return clips, {split: [f"{engine}:{voice}" for engine, voice in voices] for split, voices in by_split.items()}


def make_keywords(args, rng: np.random.Generator, pool: Pool) -> dict:
    clips, speakers = plan_keywords(args, rng)
    out = os.path.join(args.out, "kws")
    render = functools.partial(render_keyword, out=out, clip_seconds=args.clip_seconds,
                               noise_share=args.noise_share, snr_db=tuple(args.snr_db))
    rows = pool.map(render, clips, chunksize=8)
    return {"speakers": speakers, **write_splits(out, clips, rows)}


# ---------------------------------------------------------------------------------------------- notes
@dataclass(frozen=True)
class Note:
    split: str
    family: str
    program: int
    pitch: int
    velocity: int
    soundfont: str

    @property
    def file_name(self) -> str:
        name = os.path.splitext(self.soundfont)[0]
        return f"{self.family}/{name}_{self.program:03d}-{self.pitch:03d}-{self.velocity:03d}.wav"


def midi_file(notes: list[tuple[int, int, int]], slot_seconds: float, hold_seconds: float) -> bytes:
    """A format-0 MIDI file playing (program, pitch, velocity) notes one per slot on channel 1, everything silenced
    before the next slot so that no release rings into it (480 ticks per beat at 120 beats/min: 960 ticks/s)."""
    ticks_per_second = 960
    events = []  # (tick, message)
    for i, (program, pitch, velocity) in enumerate(notes):
        start = round(i * slot_seconds * ticks_per_second)
        events += [(start, bytes([0xC0, program])), (start, bytes([0x90, pitch, velocity])),
                   (start + round(hold_seconds * ticks_per_second), bytes([0x80, pitch, 0])),
                   (start + round((slot_seconds - 0.25) * ticks_per_second), bytes([0xB0, 120, 0]))]  # sound off

    def varlen(value: int) -> bytes:  # MIDI variable-length quantity, 7 bits a byte, high bit = more follows
        groups = [value & 0x7F]
        while value > 0x7F:
            value >>= 7
            groups.append(0x80 | (value & 0x7F))
        return bytes(reversed(groups))

    track, now = bytearray(), 0
    for tick, message in sorted(events, key=lambda event: event[0]):
        track += varlen(tick - now) + message
        now = tick
    track += varlen(ticks_per_second // 2) + b"\xff\x2f\x00"  # end of track
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def render_notes(notes: list[Note], out: str, note_seconds: float) -> list[dict]:
    """Render notes of one soundfont with one fluidsynth call and cut it into clips peaking at -3 dBFS; a note the
    soundfont has no sound for (silent) is left out."""
    slot = note_seconds + 1.0
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "notes.mid"), "wb") as f:
            f.write(midi_file([(n.program, n.pitch, n.velocity) for n in notes], slot, 0.75 * note_seconds))
        run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(SAMPLE_RATE), "-T", "wav",
             "-F", os.path.join(tmp, "notes.wav"), os.path.join(SOUNDFONT_DIR, notes[0].soundfont),
             os.path.join(tmp, "notes.mid")])
        audio, _ = soundfile.read(os.path.join(tmp, "notes.wav"), dtype="float32")
    audio = audio.mean(axis=1) if audio.ndim > 1 else audio
    length = int(note_seconds * SAMPLE_RATE)
    rows = []
    for i, note in enumerate(notes):
        clip = audio[int(i * slot * SAMPLE_RATE):][:length]
        clip = np.pad(clip, (0, length - len(clip)))
        if np.abs(clip).max() < 1e-3:
            continue
        clip = clip * 10 ** (-3 / 20) / np.abs(clip).max()
        write_clip(os.path.join(out, note.split, note.file_name), clip)
        rows.append({"file_name": note.file_name, "label": note.family, "program": note.program,
                     "pitch": note.pitch, "velocity": note.velocity, "soundfont": note.soundfont,
                     "rms_dbfs": rms_dbfs(clip)})
    return rows


def plan_notes(args, rng: np.random.Generator) -> list[Note]:
    """Draw each split's notes per family from its soundfonts; validation and test share a soundfont but never a
    note."""
    per_family = dict(zip(SPLITS, (args.notes_train, args.notes_eval, args.notes_eval)))
    taken, notes = set(), []
    for split in SPLITS:
        for family, (programs, (low, high)) in FAMILIES.items():
            candidates = [Note(split, family, program, pitch, velocity, soundfont)
                          for soundfont in args.soundfonts[split] for program in programs
                          for pitch in range(low, high + 1) for velocity in VELOCITIES
                          if (soundfont, program, pitch, velocity) not in taken]
            for i in rng.permutation(len(candidates))[: per_family[split]]:
                note = candidates[i]
                taken.add((note.soundfont, note.program, note.pitch, note.velocity))
                notes.append(note)
    return notes


def make_notes(args, rng: np.random.Generator, pool: Pool) -> dict:
    notes = plan_notes(args, rng)
    by_soundfont = {}
    for note in notes:
        by_soundfont.setdefault((note.split, note.soundfont), []).append(note)
    batches = [group[start:start + 200] for group in by_soundfont.values() for start in range(0, len(group), 200)]
    out = os.path.join(args.out, "notes")
    rendered = pool.map(functools.partial(render_notes, out=out, note_seconds=args.note_seconds), batches,
                        chunksize=1)
    rows = [row for batch in rendered for row in batch]
    written = {row["file_name"] for row in rows}
    kept = [n for n in notes if n.file_name in written]
    silent = Counter(n.soundfont for n in notes if n.file_name not in written)
    return {"soundfonts": {split: list(fonts) for split, fonts in args.soundfonts.items()},
            "silent_notes_left_out": dict(silent), **write_splits(out, kept, rows)}


def write_splits(out: str, items: list, rows: list[dict]) -> dict:
    """metadata.csv per split; returns the clip counts per split and label."""
    counts = {}
    for split in SPLITS:
        split_rows = [row for item, row in zip(items, rows) if item.split == split]
        if split_rows:
            write_split(os.path.join(out, split), split_rows)
            counts[split] = dict(Counter(row["label"] for row in split_rows))
    return {"clips": counts}


# ---------------------------------------------------------------------------------------------- command
def check_tools(args):
    """Stop with the apt-get line when a program or soundfont is missing."""
    packages = []
    if "kws" in args.tasks and not shutil.which("espeak-ng"):
        packages.append("espeak-ng")
    if "notes" in args.tasks:
        if not shutil.which("fluidsynth"):
            packages.append("fluidsynth")
        fonts = {font for fonts in args.soundfonts.values() for font in fonts}
        packages += sorted({SOUNDFONT_PACKAGES.get(font, font) for font in fonts
                            if not os.path.exists(os.path.join(SOUNDFONT_DIR, font))})
    if packages:
        raise SystemExit(f"make_corpus: missing {', '.join(packages)}; install with: apt-get install "
                         f"{' '.join(packages)}")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--tasks", nargs="+", choices=("kws", "notes"), default=["kws", "notes"])
    parser.add_argument("--size", choices=SIZES, default="small",
                        help="clips per label, train/validation/test: " + "; ".join(
                            f"{name}: kws {s['kws'][0]}/{s['kws'][1]}/{s['kws'][1]}, notes {s['notes'][0]}/"
                            f"{s['notes'][1]}/{s['notes'][1]}" for name, s in SIZES.items()))
    parser.add_argument("--kws_train", type=int, help="clips per keyword label in train (instead of --size)")
    parser.add_argument("--kws_eval", type=int, help="clips per keyword label in validation and in test")
    parser.add_argument("--notes_train", type=int, help="notes per family in train (instead of --size)")
    parser.add_argument("--notes_eval", type=int, help="notes per family in validation and in test")
    parser.add_argument("--words", nargs="+", default=list(COMMAND_WORDS), help="the keyword labels")
    parser.add_argument("--no_unknown", dest="unknown", action="store_false", help=f"no {UNKNOWN} label")
    parser.add_argument("--no_silence", dest="silence", action="store_false", help=f"no {SILENCE} label")
    parser.add_argument("--no_flite", dest="flite", action="store_false", help="espeak-ng voices only")
    parser.add_argument("--clip_seconds", type=float, default=1.0)
    parser.add_argument("--noise_share", type=float, default=0.8, help="share of word clips mixed with noise")
    parser.add_argument("--snr_db", type=float, nargs=2, default=(5.0, 30.0))
    parser.add_argument("--note_seconds", type=float, default=4.0)
    parser.add_argument("--soundfonts", nargs=3, metavar=("TRAIN", "VALIDATION", "TEST"),
                        help=f"the soundfonts (file names in {SOUNDFONT_DIR}, comma-separated) of each split, "
                             "default: " + " ".join(",".join(NOTE_SOUNDFONTS[s]) for s in SPLITS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    args = parser.parse_args(argv)
    kws, notes = SIZES[args.size]["kws"], SIZES[args.size]["notes"]
    args.kws_train, args.kws_eval = args.kws_train or kws[0], args.kws_eval or kws[1]
    args.notes_train, args.notes_eval = args.notes_train or notes[0], args.notes_eval or notes[1]
    args.soundfonts = ({split: tuple(names.split(",")) for split, names in zip(SPLITS, args.soundfonts)}
                       if args.soundfonts else NOTE_SOUNDFONTS)
    return args


def main(argv=None):
    args = parse_args(argv)
    check_tools(args)
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    programs = ["espeak-ng", "flite"] * ("kws" in args.tasks) + ["fluidsynth"] * ("notes" in args.tasks)
    provenance = {"command": "python corpora/make_corpus.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "tools": {program: tool_version(program) for program in programs if shutil.which(program)}}
    with Pool(args.jobs) as pool:
        if "kws" in args.tasks:
            provenance["kws"] = make_keywords(args, rng, pool)
        if "notes" in args.tasks:
            provenance["notes"] = make_notes(args, rng, pool)
    with open(os.path.join(args.out, "provenance.json"), "w") as f:
        json.dump(provenance, f, indent=1)
    for task in args.tasks:
        print(task, json.dumps(provenance[task]["clips"]))


if __name__ == "__main__":
    main()
