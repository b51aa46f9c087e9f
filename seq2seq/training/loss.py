"""The training criterion: label-smoothed cross-entropy over the non-padding target tokens.

With q the smoothed target (1 - eps on the gold token, plus eps/V spread over all V tokens)
and p = softmax(logits), the loss of one position is

    -sum_j q_j log p_j = (1 - eps) * (lse - logit_gold) + eps * (lse - mean_j logit_j),

lse = log sum_j exp(logit_j), and its gradient with respect to the logits is p - q.

`smoothed_cross_entropy` (training) computes that gradient in the forward pass, a block of rows
at a time so each block stays in cache: the (tokens x vocab) matrix is read once and its
gradient written once, instead of the several passes and extra (tokens x vocab) buffers of
log_softmax + nll + smoothing in autograd. On a 4000 x 8000 batch it is ~3x faster than
F.cross_entropy and needs two fewer 128 MB buffers. `token_loss_sum` (validation) is the
plain F.cross_entropy; the tests check that both agree.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from seq2seq.special_tokens import PAD_ID

BLOCK_ELEMENTS = 1 << 22  # 16 MB of float32 logits per block: fits the L3 cache, few blocks


def token_loss_sum(logits: Tensor, gold: Tensor, label_smoothing: float) -> Tensor:
    """Label-smoothed cross-entropy summed over the non-padding target positions.

    logits: (batch, tgt_len, vocab); gold: (batch, tgt_len) with PAD_ID where there is no token.
    """
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), gold.reshape(-1), ignore_index=PAD_ID,
                           label_smoothing=label_smoothing, reduction="sum")


def smoothed_cross_entropy(logits: Tensor, gold: Tensor, label_smoothing: float, scale: float = 1.0) -> Tensor:
    """scale x `token_loss_sum(logits, gold, label_smoothing)`, with a cheaper backward.

    logits: (batch, tgt_len, vocab); gold: (batch, tgt_len). `scale` (e.g. 1 / tokens of the
    update) is applied to the loss and folded into the stored gradient, which saves one more
    pass over it when the loss itself is what `.backward()` is called on.
    """
    vocab = logits.size(-1)
    return _SmoothedCrossEntropy.apply(logits.reshape(-1, vocab), gold.reshape(-1), label_smoothing, scale)


class _SmoothedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, logits: Tensor, gold: Tensor, eps: float, scale: float) -> Tensor:
        """logits (n, vocab), gold (n,) -> scale x summed loss (a scalar); keeps scale x (p - q)."""
        n, vocab = logits.shape
        grad = torch.empty_like(logits)
        total = logits.new_zeros(())
        block = max(1, BLOCK_ELEMENTS // vocab)
        if not scale > 0:
            raise ValueError(f"scale must be positive; got {scale}")
        log_scale = math.log(scale)
        for start in range(0, n, block):
            rows, gold_rows, grad_rows = logits[start:start + block], gold[start:start + block], \
                grad[start:start + block]
            real = gold_rows != PAD_ID
            lse = torch.logsumexp(rows, dim=1)
            loss = lse - rows.gather(1, gold_rows.unsqueeze(1)).squeeze(1)
            if eps > 0:
                loss = (1 - eps) * loss + eps * (lse - rows.mean(dim=1))
            total += torch.where(real, loss, 0.0).sum()
            # gradient scale * (p - q); scale * p = exp(logits - lse + log(scale)) in two passes
            torch.sub(rows, (lse - log_scale).unsqueeze(1), out=grad_rows).exp_()
            if eps > 0:
                grad_rows.sub_(scale * eps / vocab)
            grad_rows.scatter_add_(1, gold_rows.unsqueeze(1), grad_rows.new_full((len(gold_rows), 1),
                                                                                  scale * (eps - 1)))
            padding = torch.nonzero(~real).squeeze(1)
            if len(padding):
                grad_rows.index_fill_(0, padding, 0.0)  # padding positions get no gradient
        ctx.save_for_backward(grad)
        return total * scale

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        (grad,) = ctx.saved_tensors
        if grad_output.item() != 1.0:  # one backward per loss, so scaling in place is safe
            grad.mul_(grad_output)
        return grad, None, None, None
