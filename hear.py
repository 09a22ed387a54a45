"""The HEAR 2021 API (Holistic Evaluation of Audio Representations) for specformers encoders.

    from specformers import hear
    model = hear.load_model("path/or/hub-id")          # any saved AST, MAST or ASiT encoder or classifier
    scene = hear.get_scene_embeddings(audio, model)    # (clips, hidden)
    frames, times = hear.get_timestamp_embeddings(audio, model)  # (clips, stamps, hidden), (clips, stamps) in ms

`audio` is `(clips, samples)` at `model.sample_rate`, on any device (it is moved to the model's). Clips longer
than the model's input window are cut into windows one window apart (plus one flush with the end, as
`classify_long_audio` does); each window is padded to the input length as in training.

Which embedding, and why:
- scene: the encoder's pooled output after its final LayerNorm (AST/ASiT: the mean of the prefix tokens, MAST: the
  mean of its last-stage tokens), averaged over the windows. It is the vector the classifier head reads, and what
  ASiT's self-distillation and SS-MAST's contrast train.
- timestamp: the last layer's patch tokens after the final LayerNorm, averaged over frequency: one vector per time
  column of the token grid (AST every 100 ms, ASiT every 160 ms, MAST every 320 ms by default), centred on the
  frames it sees, then linearly interpolated to one stamp every `hop_ms` (default 50 ms) from 0 to the clip's end.
  Interpolation keeps the cost of one forward pass per window; HEAR asks for a hop of at most 50 ms.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig, AutoModel

from .families import family_of
from .feature_extraction.feature_extraction_fbank import SpectrogramFeatureExtractor
from .long_audio import window_starts
from .modeling.ast_conversion import TRANSFORMERS_AST_MODEL_TYPE
from .modeling.modeling_ast import ASTModel
from .modeling.modeling_utils import check_model_type

HOP_MS = 50.0


class HEARModel(nn.Module):
    """A specformers encoder and its feature extractor, with the attributes HEAR reads (`sample_rate`,
    `scene_embedding_size`, `timestamp_embedding_size`). `hop_ms`: the distance between timestamp embeddings;
    `batch_size`: windows per forward pass."""

    def __init__(self, encoder: nn.Module, feature_extractor, hop_ms: float = HOP_MS, batch_size: int = 16):
        super().__init__()
        if hop_ms <= 0 or batch_size < 1:
            raise ValueError(f"hop_ms and batch_size must be positive, got {hop_ms} and {batch_size}.")
        self.encoder = encoder.eval()
        self.feature_extractor = feature_extractor
        self.sample_rate = int(feature_extractor.sampling_rate)
        self.scene_embedding_size = self.timestamp_embedding_size = int(encoder.config.hidden_size)
        self.hop_ms, self.batch_size = float(hop_ms), int(batch_size)

    def train(self, mode: bool = True) -> HEARModel:
        return super().train(False)  # an embedding model: dropout and stochastic depth stay off

    def scene_embeddings(self, clips) -> torch.Tensor:
        """1-D clips of any lengths at `sample_rate` -> `(clips, hidden)`: each clip's pooled output, averaged over
        its windows."""
        pooled, _, _, starts = self._encode_windows([self._checked(clip, 1) for clip in clips])
        return torch.stack([windows.mean(0) for windows in pooled.split([len(s) for s in starts])])

    def time_columns(self, audio) -> tuple[torch.Tensor, torch.Tensor]:
        """`(clips, samples)` -> time-column embeddings `(clips, columns, hidden)` over the whole clips, and the
        columns' centres `(columns,)` in ms."""
        audio = self._checked(audio, 2)
        _, columns, column_ms, starts = self._encode_windows(list(audio))
        columns = columns.unflatten(0, (len(audio), len(starts[0])))  # (clips, windows, columns, hidden)
        times, kept = self._column_times(starts[0], column_ms.cpu().numpy(), audio.shape[1])
        return columns.flatten(1, 2)[:, torch.as_tensor(kept, device=columns.device)], torch.as_tensor(
            times, device=columns.device)

    @torch.no_grad()
    def _encode_windows(self, clips: list[torch.Tensor]):
        """1-D clips -> for every window of every clip (clip by clip), the pooled output `(windows, hidden)` and the
        time columns `(windows, columns, hidden)`; the columns' centres in a window `(columns,)` (ms); each clip's
        window starts (samples)."""
        extractor, window = self.feature_extractor, self.feature_extractor.window_samples
        starts = [window_starts(len(clip), window, window) for clip in clips]
        pieces = [clip[start:start + window] for clip, clip_starts in zip(clips, starts) for start in clip_starts]
        pooled, columns = [], []
        for first in range(0, len(pieces), self.batch_size):
            features = extractor(pieces[first:first + self.batch_size], sampling_rate=self.sample_rate,
                                 return_tensors="pt")["input_values"]
            output = self.encoder(input_values=features, return_dict=True)
            tokens, centres = self.encoder.time_tokens(output, features.shape[1])
            pooled.append(output.pooler_output.float())
            columns.append(tokens.float())
        # frame k spans [k * shift, k * shift + length) ms
        column_ms = centres.double() * extractor.frame_shift_ms + extractor.frame_length_ms / 2
        return torch.cat(pooled), torch.cat(columns), column_ms, starts

    def _checked(self, audio, dims: int) -> torch.Tensor:
        audio = torch.as_tensor(audio)
        if audio.ndim != dims or audio.shape[-1] == 0:
            wanted = "a (clips, samples) batch" if dims == 2 else "a 1-D clip"
            raise ValueError(f"HEAR audio is {wanted} at {self.sample_rate} Hz; got shape {tuple(audio.shape)}.")
        if not torch.isfinite(audio).all():
            raise ValueError("The audio holds NaN or infinite samples; clean or drop those clips first.")
        return audio.to(next(self.encoder.parameters()).device, torch.float32)

    def _column_times(self, starts: list[int], column_ms: np.ndarray, samples: int) -> tuple[np.ndarray, np.ndarray]:
        """Times (ms) of the time columns kept over all windows, and which of the windows' columns they are: each
        window adds the columns past the previous window's last one, up to the clip's end (at least one)."""
        duration = 1000.0 * samples / self.sample_rate
        times = np.concatenate([1000.0 * start / self.sample_rate + column_ms for start in starts])
        kept, latest = np.zeros(len(times), dtype=bool), -np.inf
        for index, time in enumerate(times):
            if latest < time <= duration or index == 0:
                kept[index], latest = True, time
        return times[kept], kept


def load_model(model_file_path: str = "", hop_ms: float = HOP_MS, batch_size: int = 16, **kwargs) -> HEARModel:
    """A saved specformers encoder or classifier (folder or Hub id; a classifier's head is left out), or a
    transformers AST checkpoint, as a `HEARModel`. Keyword arguments go to `from_pretrained` (`revision`, `token`,
    `cache_dir`)."""
    if not model_file_path:
        raise ValueError("specformers has no default weights: pass the folder or Hub id of a saved AST, MAST or "
                         "ASiT model (a pretraining run's output, or a classifier).")
    config = AutoConfig.from_pretrained(model_file_path, **kwargs)
    if config.model_type == TRANSFORMERS_AST_MODEL_TYPE:
        encoder = ASTModel.from_pretrained(model_file_path, **kwargs)
    else:
        if family_of(config.model_type) is None:
            check_model_type(config.model_type, "specformers-*", model_file_path, "specformers.hear (AST, MAST or "
                             "ASiT; for an SS-MAST run, its output folder holds the encoder)")
        encoder = AutoModel.from_pretrained(model_file_path, **kwargs)
    # ours, also for a transformers AST folder (its ASTFeatureExtractor settings are read under their names)
    extractor = SpectrogramFeatureExtractor.from_pretrained(model_file_path, **kwargs)
    return HEARModel(encoder, extractor, hop_ms=hop_ms, batch_size=batch_size)


def get_scene_embeddings(audio: torch.Tensor, model: HEARModel) -> torch.Tensor:
    """`(clips, samples)` at `model.sample_rate` -> `(clips, model.scene_embedding_size)` float32 embeddings."""
    return model.scene_embeddings(model._checked(audio, 2))


def get_timestamp_embeddings(audio: torch.Tensor, model: HEARModel) -> tuple[torch.Tensor, torch.Tensor]:
    """`(clips, samples)` at `model.sample_rate` -> embeddings `(clips, stamps, model.timestamp_embedding_size)`
    float32 and their timestamps `(clips, stamps)` in ms: one every `model.hop_ms` from 0 to the clips' end."""
    columns, column_ms = model.time_columns(audio)
    duration = 1000.0 * audio.shape[1] / model.sample_rate
    stamps = torch.arange(0.0, duration + 1e-6, model.hop_ms, dtype=torch.float64, device=columns.device)
    embeddings = interpolate_columns(columns, column_ms, stamps)
    return embeddings, stamps.float().expand(len(columns), -1).contiguous()


def interpolate_columns(columns: torch.Tensor, column_ms: torch.Tensor, stamps: torch.Tensor) -> torch.Tensor:
    """`(clips, columns, hidden)` at increasing `column_ms` -> `(clips, stamps, hidden)`, linear between columns
    and constant beyond the first and last one."""
    if columns.shape[1] == 1:
        return columns.expand(-1, len(stamps), -1).contiguous()
    upper = torch.searchsorted(column_ms, stamps).clamp(1, len(column_ms) - 1)
    lower = upper - 1
    weight = ((stamps - column_ms[lower]) / (column_ms[upper] - column_ms[lower])).clamp(0, 1).float()
    return torch.lerp(columns[:, lower], columns[:, upper], weight[None, :, None])
