"""The momentum (EMA) teacher shared by the self-distillation and contrastive pretraining models."""

from __future__ import annotations

import torch


class EMATeacherMixin:
    """For a pretraining model whose teacher is an exponential moving average of (part of) its student.

    `_teacher_pairs` names `(student attribute, teacher attribute)` pairs of identically built modules. The teacher
    starts as a frozen copy (`reset_teacher`), gets no gradient, stays in eval mode, and follows the student with
    `update_teacher(momentum)` after each optimiser step.
    """

    _teacher_pairs: tuple[tuple[str, str], ...] = ()

    def student_and_teacher_parameters(self) -> tuple[list, list]:
        student = [p for name, _ in self._teacher_pairs for p in getattr(self, name).parameters()]
        teacher = [p for _, name in self._teacher_pairs for p in getattr(self, name).parameters()]
        return student, teacher

    @torch.no_grad()
    def reset_teacher(self) -> None:
        """Make the teacher a frozen copy of the student (the start of pretraining)."""
        for student, teacher in self._teacher_pairs:
            getattr(self, teacher).load_state_dict(getattr(self, student).state_dict())
        for parameter in self.student_and_teacher_parameters()[1]:
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """teacher <- momentum * teacher + (1 - momentum) * student."""
        student, teacher = self.student_and_teacher_parameters()
        torch._foreach_mul_(teacher, momentum)
        torch._foreach_add_(teacher, student, alpha=1 - momentum)

    def train(self, mode: bool = True):
        super().train(mode)
        for _, teacher in self._teacher_pairs:
            getattr(self, teacher).eval()
        return self
