"""The optimiser a training run steps (its learning rate comes from schedule.py at every update)."""

from __future__ import annotations

import torch

from seq2seq.config import TrainConfig


def make_optimizer(model: torch.nn.Module, train: TrainConfig) -> torch.optim.Optimizer:
    """Adam or AdamW; the fused kernel (CPU and CUDA) is the fastest and as exact."""
    kind = torch.optim.AdamW if train.optimizer == "adamw" else torch.optim.Adam
    return kind(model.parameters(), lr=train.lr, betas=(train.adam_beta1, train.adam_beta2),
                weight_decay=train.weight_decay, fused=True)
