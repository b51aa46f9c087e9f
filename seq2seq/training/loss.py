"""The training criterion: label-smoothed cross-entropy over the non-padding target tokens.

With q the smoothed target (1 - eps on the gold token, plus eps/V spread over all V tokens)
and p = softmax(logits), the loss of one position is

    -sum_j q_j log p_j = -(1 - eps) * log p_gold - eps * mean_j log p_j,

and its gradient with respect to the logits is p - q.

`projected_cross_entropy` (training) takes the decoder states before the output layer and
that layer's weight, and fuses the projection with the loss: a block of rows at a time it
computes the logits, the loss and the gradient p - q, turns that gradient straight into the
gradients of the states and of the weight, and throws the block away. The (tokens x vocab)
logits and their gradient (2 x 64 MB at 2,000 target tokens and 8k vocabulary) never exist
whole, padding positions are never projected, and each block stays in cache.
`projected_loss_sum` (validation) is the same loss without gradients, also a block at a time:
computed from whole dev batches' logits, the dev loss added 145-221 MB to a run's memory (docs/training.md,
"Memory"). `token_loss_sum` is the plain F.cross_entropy on logits; the tests check
that all three agree.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from seq2seq.special_tokens import PAD_ID

BLOCK_ELEMENTS = 1 << 21  # 8 MB of float32 logits per block: fits the L3 cache, few blocks
ADD_ROWS = 1024  # rows of the weight gradient per add_ of a block's 16-bit share (1 MB of float32 at d 256)


def token_loss_sum(logits: Tensor, gold: Tensor, label_smoothing: float) -> Tensor:
    """Label-smoothed cross-entropy summed over the non-padding target positions.

    logits: (batch, tgt_len, vocab); gold: (batch, tgt_len) with PAD_ID where there is no token.
    """
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), gold.reshape(-1), ignore_index=PAD_ID,
                           label_smoothing=label_smoothing, reduction="sum")


def real_rows(states: Tensor, gold: Tensor) -> tuple[Tensor, Tensor]:
    """states (batch, tgt_len, d) and gold (batch, tgt_len) -> the (n, d) states and (n,) gold ids
    of the n positions that are not padding: the only ones the loss projects."""
    flat_gold = gold.reshape(-1)
    real = torch.nonzero(flat_gold != PAD_ID).squeeze(1)
    return states.reshape(-1, states.size(-1)).index_select(0, real), flat_gold.index_select(0, real)


@torch.no_grad()
def projected_loss_sum(states: Tensor, weight: Tensor, gold: Tensor, label_smoothing: float) -> Tensor:
    """`token_loss_sum(states @ weight.T, gold, label_smoothing)` a block of rows at a time, padding
    rows skipped: the memory of one block of logits (8 MB), not of the batch's. No gradients."""
    real_states, real_gold = real_rows(states, gold)
    total = torch.zeros((), dtype=torch.float32, device=states.device)
    block = max(1, BLOCK_ELEMENTS // weight.size(0))
    for start in range(0, len(real_gold), block):
        logits = torch.mm(real_states[start:start + block], weight.t()).float()
        total += F.cross_entropy(logits, real_gold[start:start + block], label_smoothing=label_smoothing,
                                 reduction="sum")
    return total


def projected_cross_entropy(states: Tensor, weight: Tensor, gold: Tensor, label_smoothing: float,
                            scale: float = 1.0) -> Tensor:
    """scale x `token_loss_sum(states @ weight.T, gold, label_smoothing)`, without the logits.

    states: (batch, tgt_len, d) decoder outputs before the (bias-free) output layer;
    weight: (vocab, d) that layer's weight; gold: (batch, tgt_len) with PAD_ID at padding.
    `scale` (e.g. 1 / tokens of the update) is folded into the stored gradients.
    In bfloat16/float16 (states and weight of that type) the products run in 16 bits and the
    log-softmax, the loss and the weight gradient's sum over blocks in float32.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive; got {scale}")
    real_states, real_gold = real_rows(states, gold)
    return _ProjectedCrossEntropy.apply(real_states, weight, real_gold, label_smoothing, scale)


class _Scratch:
    """The matrices of one call's blocks, made at the first block and reused by the others.

    A block's matrices (8 MB of float32 logits) are above glibc's mmap threshold, which
    seq2seq.allocator fixes at 4 MB: made afresh for each block, each came as new pages from
    the kernel, and touching them first cost more than the work. Reusing them, the bf16 loss of
    1,920 target tokens over 8,000 words, forward and backward, takes ~130 ms instead of ~195 ms
    (2 cores, AMD EPYC Zen 4). They are freed with the call, so the peak memory does not grow.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.matrices: dict[tuple[str, torch.dtype], Tensor] = {}

    def __call__(self, name: str, rows: int, cols: int, dtype: torch.dtype) -> Tensor:
        """A (rows, cols) matrix, the first rows * cols elements of the one called `name`."""
        buffer = self.matrices.get((name, dtype))
        if buffer is None or buffer.numel() < rows * cols:
            buffer = self.matrices[name, dtype] = torch.empty(rows * cols, dtype=dtype, device=self.device)
        return buffer[: rows * cols].view(rows, cols)


class _ProjectedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, states: Tensor, weight: Tensor, gold: Tensor, eps: float, scale: float) -> Tensor:
        """states (n, d), weight (vocab, d), gold (n,) -> scale x summed loss; keeps both gradients."""
        (n, d), vocab = states.shape, weight.size(0)
        low_precision = states.dtype != torch.float32  # bf16/fp16: matmuls in 16 bits, the rest in float32
        scratch = _Scratch(states.device)
        grad_states = torch.empty_like(states)
        grad_weight = torch.zeros_like(weight, dtype=torch.float32)  # summed over the blocks in float32
        total = torch.zeros((), dtype=torch.float32, device=states.device)
        block = max(1, BLOCK_ELEMENTS // vocab)
        log_scale = math.log(scale)
        for start in range(0, n, block):
            rows, gold_rows = states[start:start + block], gold[start:start + block]
            logits = torch.mm(rows, weight.t(), out=scratch("logits", len(rows), vocab, states.dtype))
            if low_precision:  # (log_softmax's dtype= casts into a matrix of its own)
                logits = scratch("logits_float", len(rows), vocab, torch.float32).copy_(logits)
            # log-softmax and its gradient always in float32; one fused log_softmax pass is ~2x
            # faster on a CPU than logsumexp's max, subtract, exp and sum
            log_probs = torch.log_softmax(logits, dim=1,
                                          out=scratch("log_probs", len(rows), vocab, torch.float32))
            loss = -log_probs.gather(1, gold_rows.unsqueeze(1)).squeeze(1)
            if eps > 0:
                loss = (1 - eps) * loss - eps * log_probs.mean(dim=1)
            total += loss.sum()
            # d(scale * loss)/d logits = scale * (p - q), written over the log-probabilities in
            # place; scale * p = exp(log p + log(scale))
            grad = log_probs.add_(log_scale).exp_()
            if eps > 0:
                grad.sub_(scale * eps / vocab)
            grad.scatter_add_(1, gold_rows.unsqueeze(1), grad.new_full((len(gold_rows), 1), scale * (eps - 1)))
            if low_precision:
                grad = scratch("logits", len(rows), vocab, states.dtype).copy_(grad)  # (spent logits)
                torch.mm(grad, weight, out=grad_states[start:start + block])
                block_grad = torch.mm(grad.t(), rows, out=scratch("weight_block", vocab, d, states.dtype))
                # add_ casts a 16-bit operand into a new float32 tensor first: a slice at a time,
                # that stays below the mmap threshold
                for first in range(0, vocab, ADD_ROWS):
                    grad_weight[first:first + ADD_ROWS].add_(block_grad[first:first + ADD_ROWS])
            else:
                torch.mm(grad, weight, out=grad_states[start:start + block])
                grad_weight.addmm_(grad.t(), rows)
        grad_weight = grad_weight.to(weight.dtype)  # a new tensor in 16 bits; float32: the same one
        ctx.save_for_backward(grad_states, grad_weight)
        return total * scale

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        grad_states, grad_weight = ctx.saved_tensors
        if grad_output.item() != 1.0:  # one backward per loss, so scaling in place is safe
            grad_states.mul_(grad_output)
            grad_weight.mul_(grad_output)
        return grad_states, grad_weight, None, None, None
