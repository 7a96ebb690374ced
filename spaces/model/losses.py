"""Loss terms of ViTPain (paper section 4.2, equations 13-15) as small pure functions.

Shapes: B = batch, C = PSPI classes (17), A = action units (6), D = CLS embedding width.
Every function returns a scalar tensor (mean over the batch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pspi_ce_loss(pspi_logits: torch.Tensor, pspi_labels: torch.Tensor) -> torch.Tensor:
    """L_CE(y_hat_PSPI, y_PSPI): cross-entropy; logits (B, C), integer labels (B,) in [0, C)."""
    return F.cross_entropy(pspi_logits.float(), pspi_labels.long())


def au_mse_loss(au_pred: torch.Tensor, au_labels: torch.Tensor) -> torch.Tensor:
    """L_MSE(y_hat_AU, y_AU): mean squared error over all B x A entries; both (B, A)."""
    return F.mse_loss(au_pred.float(), au_labels.to(au_pred.device).float())


def pspi_distill_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 4.0
) -> torch.Tensor:
    """T^2 * KL(softmax(z_t / T) || softmax(z_s / T)), averaged over the batch; both (B, C) logits.

    The paper calls z the "softmaxed outputs"; we take raw logits, as in Hinton et al.'s
    distillation, which is what the softmax at temperature T in the formula implies.
    The teacher is detached (no gradient flows into it).
    """
    t = float(temperature)
    log_p_student = F.log_softmax(student_logits.float() / t, dim=-1)
    p_teacher = F.softmax(teacher_logits.detach().float() / t, dim=-1)
    return F.kl_div(log_p_student, p_teacher, reduction="batchmean") * (t * t)


def au_distill_loss(student_au: torch.Tensor, teacher_au: torch.Tensor) -> torch.Tensor:
    """Eq. (13): MSE(y_hat_AU^student, y_hat_AU^teacher); both (B, A); teacher detached."""
    return F.mse_loss(student_au.float(), teacher_au.detach().float())


def feature_distill_loss(student_cls: torch.Tensor, teacher_cls: torch.Tensor) -> torch.Tensor:
    """Eq. (14): MSE(CLS^student, CLS^teacher); both (B, D) (project the student first if widths differ)."""
    return F.mse_loss(student_cls.float(), teacher_cls.detach().float())


def total_loss(
    terms: dict[str, torch.Tensor],
    *,
    lambda_pspi: float = 1.0,
    lambda_au: float = 1.0,
    lambda_pspi_distill: float = 0.1,
    lambda_au_distill: float = 0.3,
    lambda_feature_distill: float = 0.5,
) -> torch.Tensor:
    """Eq. (15): the lambda-weighted sum of whichever terms are present.

    ``terms`` may hold ``pspi``, ``au``, ``pspi_distill``, ``au_distill``, ``feature_distill``;
    absent terms contribute nothing. Raises ``ValueError`` if it holds none of them.
    """
    weights = {
        "pspi": lambda_pspi,
        "au": lambda_au,
        "pspi_distill": lambda_pspi_distill,
        "au_distill": lambda_au_distill,
        "feature_distill": lambda_feature_distill,
    }
    unknown = set(terms) - set(weights)
    if unknown:
        raise ValueError(f"unknown loss terms {sorted(unknown)}; expected a subset of {sorted(weights)}")
    if not terms:
        raise ValueError("total_loss needs at least one term")
    return sum(weights[name] * value for name, value in terms.items())


__all__ = [
    "au_distill_loss",
    "au_mse_loss",
    "feature_distill_loss",
    "pspi_ce_loss",
    "pspi_distill_loss",
    "total_loss",
]
