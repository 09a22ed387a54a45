"""SS-MAST pretraining: a student encoder (MAST or AST) + linear projection, its momentum teacher, and the
symmetric InfoNCE loss with in-batch negatives gathered from every process (no queue)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel
from transformers.utils import ModelOutput

from ..configuration.configuration_ssmast import SSMASTConfig
from .distributed import all_gather_variable
from .modeling_utils import SpecformersPreTrainedModel
from .teacher import EMATeacherMixin


def info_nce(queries: torch.Tensor, keys: torch.Tensor, positives: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean InfoNCE of `(batch, dim)` L2-normalised queries against `(keys, dim)` normalised keys, query `i`'s
    positive being key `positives[i]` and every other key a negative."""
    return F.cross_entropy(queries @ keys.T / temperature, positives)


@dataclass
class SSMASTPreTrainingOutput(ModelOutput):
    r"""
    loss: InfoNCE(f(x_a), h(x_b)) + InfoNCE(f(x_b), h(x_a)).
    embedding_std: mean over dimensions of the std of the student's normalised embeddings over the batch; about
        1/sqrt(projection_size) when spread out, near 0 when collapsed.
    positive_similarity: mean cosine similarity of student and teacher embeddings of the two views of a clip.
    student_embeddings: `(batch, 2, projection_size)`.
    """

    loss: torch.Tensor | None = None
    embedding_std: torch.Tensor | None = None
    positive_similarity: torch.Tensor | None = None
    student_embeddings: torch.Tensor | None = None


class SSMASTForPreTraining(EMATeacherMixin, SpecformersPreTrainedModel):
    """Student f = backbone + Linear(hidden -> projection_size), teacher h = its EMA copy (`EMATeacherMixin`).

    Any specformers encoder works as backbone (`config.backbone_config`): MAST, AST. `backbone` is the encoder to
    fine-tune after pretraining (`training/pretrain_ssmast.py` saves it)."""

    config_class = SSMASTConfig
    base_model_prefix = "backbone"
    _teacher_pairs = (("backbone", "teacher_backbone"), ("projection", "teacher_projection"))

    def __init__(self, config: SSMASTConfig):
        super().__init__(config)
        backbone = config.backbone
        self.backbone = AutoModel.from_config(backbone)
        self.projection = nn.Linear(backbone.hidden_size, config.projection_size)
        self.teacher_backbone = AutoModel.from_config(backbone)
        self.teacher_projection = nn.Linear(backbone.hidden_size, config.projection_size)
        self.post_init()
        self.reset_teacher()

    def embed(self, views: torch.Tensor, teacher: bool) -> torch.Tensor:
        """`(batch, frames, mel_bins)` -> L2-normalised `(batch, projection_size)`; the student drops patches."""
        if teacher:
            pooled = self.teacher_backbone(views).pooler_output
            return F.normalize(self.teacher_projection(pooled), dim=-1)
        pooled = self.backbone(views, patch_drop_rate=self.config.patch_drop_rate).pooler_output
        return F.normalize(self.projection(pooled), dim=-1)

    def forward(self, views: torch.Tensor, return_dict: bool | None = None) -> SSMASTPreTrainingOutput:
        r"""
        Args:
            views: `(batch, 2, frames, mel_bins)` two augmented views of each clip.
        Under torch.distributed the teacher embeddings of every process are the keys: the negatives are the whole
        global batch.
        """
        batch = views.shape[0]
        student = self.embed(views.transpose(0, 1).flatten(0, 1), teacher=False).unflatten(0, (2, batch))
        with torch.no_grad():
            teacher = self.embed(views.transpose(0, 1).flatten(0, 1), teacher=True).unflatten(0, (2, batch))
        loss = 0.0
        for query_view, key_view in ((0, 1), (1, 0)):
            keys, offset = all_gather_variable(teacher[key_view])
            positives = torch.arange(batch, device=views.device) + offset
            loss = loss + info_nce(student[query_view], keys, positives, self.config.contrastive_temperature)
        with torch.no_grad():
            embedding_std = student.flatten(0, 1).std(dim=0).mean()
            positive_similarity = ((student[0] * teacher[1]).sum(-1) + (student[1] * teacher[0]).sum(-1)).mean() / 2
        return SSMASTPreTrainingOutput(loss=loss, embedding_std=embedding_std, positive_similarity=positive_similarity,
                                       student_embeddings=student.transpose(0, 1))
