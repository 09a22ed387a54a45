"""Kaldi-compatible log-mel filterbank features in batched PyTorch: the one extractor every specformers model uses."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import PaddingStrategy, logging

from .audio_input import AudioDecodeError, decode_audio_value, is_encoded_audio

logger = logging.get_logger(__name__)

# (norm_mean, norm_std, target_frames) of the AST/ASiT recipes. `asit` keeps the shared 16 kHz extractor;
# `asit-32k` is the ASiT authors' own: fbank at 32 kHz (with AudioSet's 16 kHz statistics, as their code has it).
PRESETS = {
    "audioset": {"norm_mean": -4.2677393, "norm_std": 4.5689974, "target_frames": 1024},
    "esc50": {"norm_mean": -6.6268077, "norm_std": 5.358466, "target_frames": 512},
    "speech_commands": {"norm_mean": -6.845978, "norm_std": 5.5654526, "target_frames": 128},
    "asit": {"norm_mean": -4.2677393, "norm_std": 4.5689974, "target_frames": 592},
    "asit-32k": {"norm_mean": -4.2677393, "norm_std": 4.5689974, "target_frames": 592, "sampling_rate": 32000},
}

# transformers' ASTFeatureExtractor (and the preprocessor_config.json it saves) names three settings differently.
TRANSFORMERS_NAMES = {"max_length": "target_frames", "mean": "norm_mean", "std": "norm_std"}
# keys a saved preprocessor_config.json carries beside the settings
_BOOKKEEPING_KEYS = {"feature_extractor_type", "processor_class", "auto_map"}

LOG_FLOOR = 1.1920928955078125e-07  # float32 machine epsilon, Kaldi's energy floor
_BLOCK_FRAMES = 2048

# Integer PCM is scaled into [-1, 1]: (offset, scale) per dtype.
_PCM_SCALES = {
    np.dtype(np.int8): (0.0, 2.0**7),
    np.dtype(np.uint8): (128.0, 2.0**7),
    np.dtype(np.int16): (0.0, 2.0**15),
    np.dtype(np.int32): (0.0, 2.0**31),
    np.dtype(np.int64): (0.0, 2.0**63),
}
_TORCH_TO_NUMPY_INT = {torch.int8: np.int8, torch.uint8: np.uint8, torch.int16: np.int16, torch.int32: np.int32,
                       torch.int64: np.int64}


def kaldi_mel_filterbank(num_mel_bins: int, fft_size: int, sampling_rate: int, low_freq: float,
                         high_freq: float) -> torch.Tensor:
    """Triangular filters in Kaldi's mel space, shape `(fft_size // 2 + 1, num_mel_bins)`, float64.

    Kaldi weights FFT bins 0 .. fft_size/2 - 1; the Nyquist bin gets weight 0.
    """

    def mel(freq):
        return 1127.0 * torch.log1p(torch.as_tensor(freq, dtype=torch.float64) / 700.0)

    mel_low, mel_high = mel(low_freq), mel(high_freq)
    edges = mel_low + (mel_high - mel_low) / (num_mel_bins + 1) * torch.arange(num_mel_bins + 2, dtype=torch.float64)
    left, centre, right = edges[:-2], edges[1:-1], edges[2:]
    bin_mel = mel(sampling_rate / fft_size * torch.arange(fft_size // 2, dtype=torch.float64))[:, None]
    rising = (bin_mel - left) / (centre - left)
    falling = (right - bin_mel) / (right - centre)
    weights = torch.minimum(rising, falling).clamp_min(0.0)
    return torch.cat([weights, weights.new_zeros(1, num_mel_bins)])


class SpectrogramFeatureExtractor(SequenceFeatureExtractor):
    r"""Log-mel filterbank features as AST, MAST and ASiT expect them (Kaldi `fbank` with AST's settings).

    Output `input_values` of shape `(batch, target_frames, num_mel_bins)`, float32: 25 ms Hanning frames every
    10 ms (snip edges), per-frame DC removal, pre-emphasis 0.97, power spectrum of the next power-of-two FFT,
    Kaldi mel filters from `low_freq` to Nyquist, `log(max(x, eps))`; zero-padded or truncated to
    `target_frames`, then normalised as `(x - norm_mean) / (2 * norm_std)`.

    The whole batch goes through one STFT, on the device of the input tensors or the `device` argument.

    Args:
        sampling_rate: rate the model expects; other rates are resampled with soxr (unless `resample=False`).
        num_mel_bins: mel filters (128 for every model here).
        target_frames: frames per clip after padding/truncation (default 1024 = 10.24 s).
        norm_mean, norm_std: normalisation statistics of the training corpus (default AudioSet's).
        do_normalize: apply the normalisation.
        frame_length_ms, frame_shift_ms: analysis window and hop.
        preemphasis: pre-emphasis coefficient.
        low_freq: lowest mel-filter edge in Hz; `high_freq`: highest (None or <= 0: Nyquist plus this offset).
        resample: resample other sampling rates (True) or raise a ValueError (False).
        padding_value: value of padded frames before normalisation (and of padded samples in `pad`).
        return_attention_mask: also return `attention_mask`, `(batch, frames)`: 1 where a frame holds audio, 0
            where it is padding. specformers' models accept it but do not apply it (see `__call__`).
        feature_size: channels of the raw audio `pad` handles: 1, as in transformers' AST extractor (the output
            is always `num_mel_bins` wide).
        padding_side: "right" only: padding goes after the audio, as in the AST recipe.

    transformers' `ASTFeatureExtractor` settings are read under their names: `max_length` is `target_frames`,
    `mean` is `norm_mean`, `std` is `norm_std`; so `SpectrogramFeatureExtractor.from_pretrained` of a folder that
    transformers' AST extractor saved gives the same features.
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(
        self,
        sampling_rate: int = 16000,
        num_mel_bins: int = 128,
        target_frames: int | None = None,
        norm_mean: float | None = None,
        norm_std: float | None = None,
        do_normalize: bool = True,
        frame_length_ms: float = 25.0,
        frame_shift_ms: float = 10.0,
        preemphasis: float = 0.97,
        low_freq: float = 20.0,
        high_freq: float | None = None,
        resample: bool = True,
        padding_value: float = 0.0,
        return_attention_mask: bool = False,
        feature_size: int = 1,
        padding_side: str = "right",
        **kwargs,
    ):
        settings = _with_our_names({"target_frames": target_frames, "norm_mean": norm_mean, "norm_std": norm_std,
                                    **{name: kwargs.pop(name) for name in TRANSFORMERS_NAMES if name in kwargs}})
        if feature_size not in (1, num_mel_bins):  # num_mel_bins: what earlier specformers versions saved
            raise ValueError(f"feature_size={feature_size}: it is the channel count of the raw audio that pad() "
                             "handles, always 1 (mono; multi-channel clips are mixed down in __call__).")
        if padding_side != "right":
            raise ValueError(f"padding_side={padding_side!r}: SpectrogramFeatureExtractor pads after the audio, as "
                             "the AST recipe does; only 'right' is supported.")
        unknown = sorted(set(kwargs) - _BOOKKEEPING_KEYS)
        if unknown:
            logger.warning(f"{type(self).__name__} ignores the unknown setting(s) {unknown}.")
        super().__init__(feature_size=1, sampling_rate=sampling_rate, padding_value=padding_value,
                         return_attention_mask=return_attention_mask, padding_side=padding_side, **kwargs)
        self.num_mel_bins = num_mel_bins
        for name, value in settings.items():  # unset: AudioSet's
            setattr(self, name, PRESETS["audioset"][name] if value is None else value)
        self.do_normalize = do_normalize
        self.frame_length_ms = frame_length_ms
        self.frame_shift_ms = frame_shift_ms
        self.preemphasis = preemphasis
        self.low_freq = low_freq
        self.high_freq = high_freq
        self.resample = resample
        self._check_settings()
        self._constants = {}  # cache of window and mel filters; not serialised

    @classmethod
    def from_dict(cls, feature_extractor_dict: dict, **kwargs):
        """Build from a saved config (ours or transformers' AST extractor's); keyword arguments that name a setting
        (under either name) override it, even when the saved config lacks it."""
        return_unused = kwargs.pop("return_unused_kwargs", False)
        parameters = ((set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}) | set(TRANSFORMERS_NAMES)
                      | _BOOKKEEPING_KEYS)
        values = _with_our_names(feature_extractor_dict)
        values.update(_with_our_names({k: v for k, v in kwargs.items() if k in parameters}))
        unused = {k: v for k, v in kwargs.items() if k not in parameters}
        extractor = cls(**values)
        return (extractor, unused) if return_unused else extractor

    @classmethod
    def from_preset(cls, name: str, **overrides) -> SpectrogramFeatureExtractor:
        """An extractor with a recipe's statistics and length: `audioset`, `esc50`, `speech_commands`, `asit` or
        `asit-32k` (the ASiT authors' 32 kHz fbank).

        Keyword arguments override the preset (e.g. `target_frames=512`, or transformers' `max_length=512`).
        """
        if name not in PRESETS:
            raise ValueError(f"Unknown feature-extractor preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **_with_our_names(overrides)})

    # ------------------------------------------------------------------ geometry

    @property
    def frame_length(self) -> int:
        """Samples per analysis frame (400 at 16 kHz)."""
        return int(self.sampling_rate * self.frame_length_ms / 1000)

    @property
    def hop_length(self) -> int:
        """Samples between frame starts (160 at 16 kHz)."""
        return int(self.sampling_rate * self.frame_shift_ms / 1000)

    @property
    def fft_size(self) -> int:
        return 1 << (self.frame_length - 1).bit_length()

    def num_frames(self, num_samples: int) -> int:
        """Frames Kaldi (snip_edges) takes from a clip of `num_samples`, before padding/truncation."""
        return 0 if num_samples < self.frame_length else 1 + (num_samples - self.frame_length) // self.hop_length

    @property
    def window_samples(self) -> int:
        """Samples that make exactly `target_frames` frames (the model's input window)."""
        return self.frame_length + self.hop_length * (self.target_frames - 1)

    @property
    def mel_high_freq(self) -> float:
        """Upper edge of the mel filters in Hz: `high_freq`, or Nyquist plus a non-positive `high_freq`."""
        nyquist = self.sampling_rate / 2
        return self.high_freq if self.high_freq is not None and self.high_freq > 0 else nyquist + (self.high_freq or 0)

    def _check_settings(self):
        nyquist = self.sampling_rate / 2
        if not 0 <= self.low_freq < self.mel_high_freq <= nyquist:
            raise ValueError(f"Mel range must satisfy 0 <= low_freq < high_freq <= {nyquist} Hz (Nyquist); "
                             f"got low_freq={self.low_freq}, high_freq={self.high_freq}.")
        if self.target_frames < 1 or self.num_mel_bins < 1:
            raise ValueError(f"target_frames and num_mel_bins must be positive; got {self.target_frames}, "
                             f"{self.num_mel_bins}.")
        if self.do_normalize and not self.norm_std > 0:
            raise ValueError(f"norm_std must be positive to normalise; got {self.norm_std}.")

    def _window_and_filters(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Hann window and mel filters on `device`, cached per device and settings (fields may be changed)."""
        key = (str(device), self.sampling_rate, self.frame_length_ms, self.num_mel_bins, self.low_freq,
               self.mel_high_freq)
        if key not in self._constants:
            window = torch.hann_window(self.frame_length, periodic=False, dtype=torch.float64)
            filters = kaldi_mel_filterbank(self.num_mel_bins, self.fft_size, self.sampling_rate, self.low_freq,
                                           self.mel_high_freq)
            self._constants[key] = (window.to(device, torch.float32), filters.to(device, torch.float32))
        return self._constants[key]

    def to_dict(self):
        return {k: v for k, v in super().to_dict().items() if not k.startswith("_")}

    def to_transformers(self):
        """The same features from transformers' own `ASTFeatureExtractor` (Kaldi fbank at 16 kHz: 25 ms frames
        every 10 ms, pre-emphasis 0.97, mel filters from 20 Hz to 8 kHz, zero-padded frames), with this extractor's
        `num_mel_bins`, length and statistics; a ValueError names the settings it cannot take. Its features agree
        with these to about 1e-3 (float32 here, float64 there). It does not resample: give it 16 kHz audio."""
        fixed = {"sampling_rate": 16000, "frame_length_ms": 25.0, "frame_shift_ms": 10.0, "preemphasis": 0.97,
                 "low_freq": 20.0, "mel_high_freq": 8000.0, "padding_value": 0.0}
        different = {name: getattr(self, name) for name, value in fixed.items() if getattr(self, name) != value}
        if different:
            raise ValueError(f"transformers' ASTFeatureExtractor computes {fixed}; this extractor has {different}.")
        from transformers import ASTFeatureExtractor

        return ASTFeatureExtractor(num_mel_bins=self.num_mel_bins, max_length=self.target_frames,
                                   mean=self.norm_mean, std=self.norm_std, do_normalize=self.do_normalize,
                                   return_attention_mask=self.return_attention_mask)

    # ------------------------------------------------------------------ features

    @torch.no_grad()
    def log_mel(self, clips: Sequence[torch.Tensor], kept: Sequence[int] | None = None,
                total_frames: int | None = None) -> torch.Tensor:
        """Unnormalised log-mel features of 1-D float clips at `sampling_rate`, all on one device.

        Clip `i` keeps its first `kept[i]` frames (default: up to `target_frames`), padded to `total_frames`
        (default `target_frames`, at least `max(kept)`). Returns `(batch, total_frames, num_mel_bins)`; frames past
        a clip's kept ones hold `padding_value`.
        """
        device = clips[0].device
        window, filters = self._window_and_filters(device)
        if kept is None:
            kept = [min(self.num_frames(len(c)), self.target_frames) for c in clips]
        num_frames = max(kept)
        length = self.frame_length + self.hop_length * (num_frames - 1)

        emphasised, offsets = self._preemphasised(clips, length)
        frames = emphasised.unfold(1, self.frame_length, self.hop_length)  # (batch, frames, frame_length), a view

        # On a CPU, blocks of about _BLOCK_FRAMES frames keep the FFT's working set in cache (a whole long batch at
        # once spills it); the block buffer's zero tail is the FFT's zero padding.
        block = _BLOCK_FRAMES if device.type == "cpu" else len(clips) * num_frames
        rows, steps = max(1, block // num_frames), min(num_frames, block)
        buffer = torch.zeros(rows, steps, self.fft_size, device=device)
        features = torch.empty(len(clips), num_frames, self.num_mel_bins, device=device)
        for b in range(0, len(clips), rows):
            for f in range(0, num_frames, steps):
                source = frames[b:b + rows, f:f + steps]
                padded = buffer[: source.shape[0], : source.shape[1]]
                windowed = padded[..., : self.frame_length]
                torch.sub(source, offsets[b:b + rows, f:f + steps], out=windowed)
                windowed.mul_(window)
                spectrum = torch.fft.rfft(padded)
                power = spectrum.real.square().addcmul_(spectrum.imag, spectrum.imag)
                features[b:b + rows, f:f + steps] = power @ filters
        features.clamp_min_(LOG_FLOOR).log_()

        if min(kept) < num_frames:
            padding = torch.arange(num_frames, device=device)[None, :] >= torch.tensor(kept, device=device)[:, None]
            features.masked_fill_(padding[..., None], self.padding_value)
        missing = (self.target_frames if total_frames is None else total_frames) - num_frames
        if missing > 0:
            features = torch.nn.functional.pad(features, (0, 0, 0, missing), value=self.padding_value)
        return features

    def _preemphasised(self, clips: Sequence[torch.Tensor], length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The clips' first `length` samples, pre-emphasised, `(batch, length)`, and each frame's offset to
        subtract, `(batch, frames, 1)`.

        Kaldi removes each frame's mean, then pre-emphasises within the frame. Pre-emphasising the whole signal
        once is the same on every sample but a frame's first, which the symmetric Hann window zeroes anyway; the
        mean removal then becomes subtracting (1 - preemphasis) * the frame's mean. The batch is done at once, a
        few operations instead of a few per clip (on a GPU each is a kernel launch). A clip shorter than `length` is
        zero-padded; `log_mel` masks the frames past its end."""
        signal = torch.nn.utils.rnn.pad_sequence([clip[:length] for clip in clips], batch_first=True).float()
        if signal.shape[1] < length:
            signal = torch.nn.functional.pad(signal, (0, length - signal.shape[1]))
        emphasised = torch.empty_like(signal)
        emphasised[:, 0] = signal[:, 0]
        torch.sub(signal[:, 1:], signal[:, :-1], alpha=self.preemphasis, out=emphasised[:, 1:])
        means = torch.nn.functional.avg_pool1d(signal[:, None], self.frame_length, self.hop_length)  # (batch, 1, F)
        return emphasised, means.transpose(1, 2).mul_(1 - self.preemphasis)

    def normalize(self, features: torch.Tensor) -> torch.Tensor:
        """`(x - norm_mean) / (2 * norm_std)`, in place."""
        return features.sub_(self.norm_mean).div_(2 * self.norm_std)

    @property
    def padded_frame_value(self) -> float:
        """Value of a padded frame in the output: `padding_value`, normalised like the rest."""
        if not self.do_normalize:
            return self.padding_value
        return (self.padding_value - self.norm_mean) / (2 * self.norm_std)

    def __call__(
        self,
        raw_speech,
        sampling_rate: int | None = None,
        return_tensors: str | None = None,
        padding: bool | str | PaddingStrategy = "max_length",
        max_length: int | None = None,
        truncation: bool = True,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        device: str | torch.device | None = None,
        resample: bool | None = None,
    ) -> BatchFeature:
        """Featurise one clip or a batch.

        Args:
            raw_speech: one clip (1-D array, tensor or list of numbers), a batch (2-D array/tensor of mono clips,
                or a list of clips), or `datasets`-style dicts `{"array": ..., "sampling_rate": ...}`; also audio
                still to decode, alone or in a list: torchcodec `AudioDecoder`s (what `ds[i]["audio"]` is with
                datasets >= 4), undecoded `{"bytes", "path"}` dicts, file paths and bytes. An item of a list may
                be 2-D (multi-channel, channels-first or channels-last); it is mixed down to mono. Integer PCM is
                scaled to [-1, 1].
            sampling_rate: rate of `raw_speech` (dicts and decoded files carry their own). Other rates than the
                extractor's are resampled with soxr, unless `resample=False`.
            return_tensors: "pt" (torch, on the compute device), "np", or None (a list of numpy arrays).
            padding: as in transformers, in frames: `"max_length"` (default: every clip padded to `max_length`),
                `True` / `"longest"` (to the longest clip of the batch) or `False` / `"do_not_pad"`.
            max_length: frames to pad and truncate to; default `target_frames`.
            truncation: cut clips longer than `max_length` frames (default); False keeps all their frames.
            pad_to_multiple_of: round the padded length up to a multiple of this many frames.
            return_attention_mask: also return `attention_mask` `(batch, frames)`, int32: 1 on frames computed from
                the audio, 0 on padding (default: the extractor's setting). specformers' models accept it and
                attend to every frame anyway, as AST, MAST and ASiT are trained; it is for code that expects the
                key and for your own use (e.g. pooling over real frames only).
            device: where to compute; defaults to the device of tensor inputs, else CPU.
            resample: override the extractor's `resample` setting for this call.
        Clips left at different lengths (`padding=False`, or `truncation=False` and a clip longer than
        `max_length`) come back as a list of arrays; asking for tensors of them is a ValueError.

        Returns:
            `BatchFeature` with `input_values` `(batch, frames, num_mel_bins)`, frames = `target_frames` by
            default, and `attention_mask` `(batch, frames)` when asked.
        """
        if return_tensors not in (None, "pt", "torch", "np", "numpy"):
            raise ValueError(f"return_tensors must be 'pt', 'np' or None; got {return_tensors!r}.")
        resample = self.resample if resample is None else resample
        return_attention_mask = self.return_attention_mask if return_attention_mask is None else return_attention_mask
        items = _split_batch(raw_speech, sampling_rate)
        clips = [self._prepare_clip(audio, rate, index, resample) for index, (audio, rate) in enumerate(items)]
        if any(rate is None for _, rate in items):
            logger.warning_once(f"No sampling_rate given to {type(self).__name__}: assuming {self.sampling_rate} Hz. "
                                "Pass sampling_rate= to avoid silent errors.")
        kept, length = self._frame_counts([self.num_frames(len(clip)) for clip in clips], padding, max_length,
                                          truncation, pad_to_multiple_of)
        lengths = [max(frames, length or 0) for frames in kept]  # each clip's output frames
        device = torch.device(device) if device is not None else clips[0].device
        features = self.log_mel([clip.to(device) for clip in clips], kept, max(lengths))
        if self.do_normalize:
            features = self.normalize(features)
        outputs = {"input_values": features}
        if return_attention_mask:
            logger.warning_once("attention_mask marks audio frames (1) and padding (0); specformers' models accept "
                                "it but attend to every frame, padding included, as AST, MAST and ASiT are trained.")
            frame = torch.arange(features.shape[1], device=device)
            outputs["attention_mask"] = (frame[None] < torch.tensor(kept, device=device)[:, None]).to(torch.int32)

        if len(set(lengths)) > 1:
            if return_tensors is not None:
                raise ValueError(f"The clips come out at different lengths ({min(lengths)} to {max(lengths)} frames) "
                                 f"with padding={padding!r} and truncation={truncation}: pass padding=True (pad to "
                                 "the longest) or return_tensors=None (a list of arrays).")
            return BatchFeature({key: [row[:n].cpu().numpy() for row, n in zip(value, lengths)]
                                 for key, value in outputs.items()})
        if return_tensors in ("np", "numpy"):
            outputs = {key: value.cpu().numpy() for key, value in outputs.items()}
        elif return_tensors is None:
            outputs = {key: list(value.cpu().numpy()) for key, value in outputs.items()}
        return BatchFeature(outputs)

    def _frame_counts(self, frames: list[int], padding, max_length: int | None, truncation: bool,
                      pad_to_multiple_of: int | None) -> tuple[list[int], int | None]:
        """transformers' padding arguments -> the frames each clip keeps, and the length the clips are padded to
        (None: not padded). An argument that has no effect with the others is said in the log."""
        if padding is True:
            strategy = PaddingStrategy.LONGEST
        elif padding is False:
            strategy = PaddingStrategy.DO_NOT_PAD
        else:
            strategy = PaddingStrategy(padding)
        if truncation not in (True, False):
            raise ValueError(f"truncation must be True or False; got {truncation!r}.")
        limit = self.target_frames if max_length is None else max_length
        if limit < 1 or (pad_to_multiple_of is not None and pad_to_multiple_of < 1):
            raise ValueError(f"max_length and pad_to_multiple_of must be positive; got {max_length}, "
                             f"{pad_to_multiple_of}.")
        kept = [min(n, limit) for n in frames] if truncation else list(frames)
        length = {PaddingStrategy.MAX_LENGTH: limit, PaddingStrategy.LONGEST: max(kept)}.get(strategy)
        if length is not None and pad_to_multiple_of:
            length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
        if max_length is not None and not truncation and strategy != PaddingStrategy.MAX_LENGTH:
            logger.warning_once(f"max_length has no effect with padding={padding!r} and truncation=False.")
        if pad_to_multiple_of and length is None:
            logger.warning_once("pad_to_multiple_of has no effect with padding=False.")
        return kept, length

    def _pad(self, processed_features, max_length: int | None = None,
             padding_strategy: PaddingStrategy = PaddingStrategy.DO_NOT_PAD, pad_to_multiple_of: int | None = None,
             return_attention_mask: bool | None = None) -> dict:
        """One item of `pad()` (SequenceFeatureExtractor's batch padding, as Trainer's `DataCollatorWithPadding`
        calls it): a mono waveform `(samples,)` padded with `padding_value`, or a spectrogram
        `(frames, num_mel_bins)` padded along frames with `padded_frame_value`, as `__call__` pads it."""
        name = self.model_input_names[0]
        values = processed_features[name]
        if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == self.num_mel_bins)):
            raise ValueError(f"pad() takes mono waveforms (samples,) or spectrograms (frames, {self.num_mel_bins}); "
                             f"got an item of shape {values.shape}. Mix multi-channel audio down first, or pass it "
                             "to the extractor itself.")
        length = len(values)
        if padding_strategy == PaddingStrategy.LONGEST:
            max_length = length
        if max_length is not None and pad_to_multiple_of:
            max_length = -(-max_length // pad_to_multiple_of) * pad_to_multiple_of
        if return_attention_mask and "attention_mask" not in processed_features:
            processed_features["attention_mask"] = np.ones(length, dtype=np.int32)
        missing = max_length - length if padding_strategy != PaddingStrategy.DO_NOT_PAD else 0
        if missing > 0:
            fill = self.padding_value if values.ndim == 1 else self.padded_frame_value
            processed_features[name] = np.pad(values, [(0, missing)] + [(0, 0)] * (values.ndim - 1),
                                              constant_values=fill)
            if "attention_mask" in processed_features:
                processed_features["attention_mask"] = np.pad(processed_features["attention_mask"], (0, missing))
        return processed_features

    def mono_at_sampling_rate(self, audio, sampling_rate: int | None = None) -> torch.Tensor:
        """One clip (any input `__call__` accepts for one item) -> 1-D float32 tensor at `self.sampling_rate`:
        mixed to mono, integer PCM scaled, resampled; empty, NaN or too-short audio is a ValueError."""
        return self._prepare_clip(audio, sampling_rate, 0, self.resample)

    def _prepare_clip(self, audio, rate: int | None, index: int, resample: bool) -> torch.Tensor:
        """One item -> 1-D float32 tensor at `self.sampling_rate`, or a ValueError naming the item."""
        clip = _to_mono_float(audio, index)
        if clip.numel() == 0:
            raise ValueError(f"Audio item {index} is empty (0 samples).")
        # one float64 sum cannot overflow on finite samples and is NaN/inf otherwise: cheaper than a mask
        if not bool(torch.isfinite(clip.sum(dtype=torch.float64))):
            raise ValueError(f"Audio item {index} contains NaN or infinite samples; clean or drop this clip.")
        rate = self.sampling_rate if rate is None else int(rate)
        if rate != self.sampling_rate:
            if not resample:
                raise ValueError(f"Audio item {index} is sampled at {rate} Hz but this extractor expects "
                                 f"{self.sampling_rate} Hz; resample it or call with resample=True.")
            logger.warning_once(f"Resampling audio from {rate} Hz to {self.sampling_rate} Hz with soxr.")
            clip = resample_audio(clip, rate, self.sampling_rate)
        if len(clip) < self.frame_length:
            raise ValueError(f"Audio item {index} has {len(clip)} samples, shorter than one "
                             f"{self.frame_length_ms:g} ms frame ({self.frame_length} samples at {self.sampling_rate} "
                             "Hz). If it is one multi-channel clip, pass it inside a list: extractor([audio]).")
        return clip

    # ------------------------------------------------------------------ corpus statistics

    def compute_normalization_stats(self, audio: Iterable, sampling_rate: int | None = None, batch_size: int = 32,
                                    include_padding: bool = True) -> dict[str, float]:
        """Mean and standard deviation of the unnormalised features of a corpus, for `norm_mean` / `norm_std`.

        `audio` yields clips in any form `__call__` accepts for one item (arrays, `{"array", "sampling_rate"}`
        dicts, `AudioDecoder`s, paths: e.g. `ds["audio"]`, a `datasets` audio column). Statistics are exact
        (float64 sums over every value); with `include_padding` (the AST recipe) the padded frames of short clips
        count as the model sees them.
        Returns `{"norm_mean": ..., "norm_std": ...}`, ready for `SpectrogramFeatureExtractor(**stats)`.
        """
        total = total_sq = count = 0.0
        batch = []

        def flush():
            nonlocal total, total_sq, count
            clips = [self._prepare_clip(a, r, i, self.resample) for i, (a, r) in enumerate(batch)]
            features = self.log_mel(clips).double()
            if not include_padding:
                kept = [min(self.num_frames(len(c)), self.target_frames) for c in clips]
                features = torch.cat([f[:k] for f, k in zip(features, kept)])
            total += float(features.sum())
            total_sq += float(features.square().sum())
            count += features.numel()
            batch.clear()

        for item in audio:
            batch.extend(_split_batch(item, sampling_rate))
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        if count == 0:
            raise ValueError("compute_normalization_stats got no audio.")
        mean = total / count
        std = math.sqrt(max(total_sq / count - mean * mean, 0.0))
        return {"norm_mean": mean, "norm_std": std}


def resample_audio(clip: torch.Tensor, orig_rate: int, target_rate: int) -> torch.Tensor:
    """Resample a 1-D float tensor with soxr (high quality), returned on the input's device."""
    import soxr

    out = soxr.resample(clip.detach().cpu().numpy().astype(np.float32), orig_rate, target_rate, quality="HQ")
    return torch.from_numpy(np.ascontiguousarray(out)).to(clip.device)


def _with_our_names(values: dict) -> dict:
    """Settings with transformers' AST-extractor names (`max_length`, `mean`, `std`) renamed to ours; a setting
    given under both names with two different values is a ValueError."""
    values = dict(values)
    for theirs, ours in TRANSFORMERS_NAMES.items():
        if theirs in values:
            value = values.pop(theirs)
            if values.get(ours) is not None and values[ours] != value:
                raise ValueError(f"{ours}={values[ours]} and {theirs}={value} (transformers' name for {ours}) "
                                 "disagree; give one of them.")
            values[ours] = value
    return values


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.number)) and not isinstance(x, bool)


def _split_batch(raw_speech, sampling_rate: int | None) -> list[tuple[object, int | None]]:
    """Input of `__call__` -> list of (one clip, its sampling rate)."""
    if is_encoded_audio(raw_speech):
        return [_decoded(raw_speech, 0)]
    if isinstance(raw_speech, dict):
        return [_from_audio_dict(raw_speech, 0)]
    if isinstance(raw_speech, (np.ndarray, torch.Tensor)):
        if raw_speech.ndim == 1:
            return [(raw_speech, sampling_rate)]
        if raw_speech.ndim == 2:
            return [(row, sampling_rate) for row in raw_speech]
        raise ValueError(f"Got a {raw_speech.ndim}-D array of shape {tuple(raw_speech.shape)}; expected one clip "
                         "(samples,), a batch of mono clips (batch, samples), or a list of clips (pass multi-channel "
                         "clips as a list of (channels, samples) arrays).")
    if isinstance(raw_speech, (list, tuple)):
        if len(raw_speech) == 0:
            raise ValueError("Got an empty list: no audio to featurise.")
        if all(_is_number(x) for x in raw_speech):
            return [(raw_speech, sampling_rate)]
        return [_decoded(x, i) if is_encoded_audio(x) else _from_audio_dict(x, i) if isinstance(x, dict)
                else (x, sampling_rate) for i, x in enumerate(raw_speech)]
    raise ValueError(f"Unsupported audio input of type {type(raw_speech).__name__}; pass numpy arrays, torch tensors, "
                     "lists of numbers, {'array', 'sampling_rate'} dicts, file paths, bytes, {'bytes', 'path'} dicts "
                     "or torchcodec AudioDecoders (datasets' audio), or a list of them.")


def _decoded(value, index: int) -> tuple[np.ndarray, int]:
    """An undecoded clip (path, bytes, `{"bytes", "path"}`, AudioDecoder) -> (samples, their sampling rate)."""
    try:
        return decode_audio_value(value)
    except AudioDecodeError as err:
        raise ValueError(f"Audio item {index} cannot be read: {err}.") from err


def _from_audio_dict(item: dict, index: int) -> tuple[object, int]:
    if "array" not in item or "sampling_rate" not in item:
        raise ValueError(f"Audio item {index} is a dict without 'array' and 'sampling_rate' keys: {sorted(item)}.")
    return item["array"], item["sampling_rate"]


def _to_mono_float(audio, index: int) -> torch.Tensor:
    """Array-like clip (1-D, or 2-D multi-channel) -> 1-D float32 tensor; integer PCM scaled to [-1, 1]."""
    if isinstance(audio, torch.Tensor):
        if audio.dtype in _TORCH_TO_NUMPY_INT:
            offset, scale = _PCM_SCALES[np.dtype(_TORCH_TO_NUMPY_INT[audio.dtype])]
            tensor = (audio.double() - offset) / scale
        elif audio.is_floating_point():
            tensor = audio
        else:
            raise ValueError(f"Audio item {index} has unsupported dtype {audio.dtype}; expected float or integer PCM.")
    else:
        try:
            array = np.asarray(audio)
        except ValueError as err:  # ragged nested lists
            raise ValueError(f"Audio item {index} is not a rectangular array: {err}") from None
        if array.dtype in _PCM_SCALES:
            offset, scale = _PCM_SCALES[array.dtype]
            array = (array.astype(np.float64) - offset) / scale
        elif array.dtype.kind != "f":
            raise ValueError(f"Audio item {index} has unsupported dtype {array.dtype}; expected float or integer PCM.")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    tensor = tensor.detach().to(torch.float32)
    if tensor.ndim == 2:  # multi-channel: the shorter axis holds the channels
        tensor = tensor.mean(dim=0 if tensor.shape[0] <= tensor.shape[1] else 1)
    elif tensor.ndim != 1:
        raise ValueError(f"Audio item {index} has shape {tuple(tensor.shape)}; expected (samples,) or a multi-channel "
                         "(channels, samples) / (samples, channels) array.")
    return tensor
