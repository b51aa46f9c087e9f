"""Attention, written out next to its formula.

Three pieces, from the oldest to the newest:

* `DotProductAttention`: Luong et al. (2015) global attention for the RNN decoder.
  score(h_t, h_s) = h_t . h_s  ("dot")  or  h_t . (W_a h_s)  ("general"),
  a_t = softmax over source positions s of score(h_t, h_s),   c_t = sum_s a_t(s) h_s.
* `scaled_dot_product_attention`: Vaswani et al. (2017),
  Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V.
* `MultiHeadAttention`: h heads of scaled dot-product attention over learned projections,
  MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O,  head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V).

Masks are boolean with True where attention is allowed (PyTorch's convention), broadcastable
to the score shape; padding positions get weight exactly 0. A query row whose keys are all
masked gets all-zero weights and a zero output, never NaN.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last dimension with masked-out positions at exactly 0.

    scores: (..., q_len, k_len); mask: bool (True = keep) or additive float, broadcastable.
    Rows with every position masked come out as all zeros instead of NaN.
    """
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        # softmax of an all -inf row is 0/0; such a query has nothing to attend to.
        fully_masked = torch.isneginf(scores).all(dim=-1, keepdim=True)
        weights = weights.masked_fill(fully_masked, 0.0)
    return weights


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    need_weights: bool = False,
    causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """softmax(Q K^T / sqrt(d_k)) V.

    q: (..., q_len, d_k), k: (..., k_len, d_k), v: (..., k_len, d_v).
    mask: bool (True = attend) or additive float, broadcastable to (..., q_len, k_len).
    causal: also hide later keys; the queries are the last q_len positions of the keys
    (query i of q_len == k_len sees keys 0..i).
    Returns the output (..., q_len, d_v) and, if need_weights, the attention weights
    (..., q_len, k_len) (before dropout), else None.

    Without weights, PyTorch's fused kernel computes the same thing faster and with less memory.
    """
    if not need_weights:
        if causal and (mask is not None or q.size(-2) != k.size(-2)):
            # the fused kernel takes a mask or is_causal, and aligns is_causal top-left
            mask = _with_causal(mask, q.size(-2), k.size(-2))
            causal = False
        if q.device.type == "cpu" and q.dtype != torch.float32 and q.requires_grad:
            # The CPU flash-attention backward is ~18x slower in bfloat16 than in float32 (torch
            # 2.13): in 16-bit training, attention alone runs in float32 (a small share of the FLOPs).
            # Written out in bf16 instead (softmax in float32) it saves ~45 MB of peak memory and
            # is no faster (measured on AMD Zen 4, AVX512-BF16; docs/precision-and-devices.md).
            output = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask,
                                                    dropout_p=dropout_p, is_causal=causal)
            return output.to(q.dtype), None
        if q.device.type == "cpu" and q.dtype != torch.float32 and q.size(-2) == 1 and not causal:
            # One query per row (a decoding step): the CPU's fused kernel takes 2.5-3.7x longer in
            # bfloat16 than these two products (softmax in float32), measured for 120 rows x 4
            # heads over 16-64 keys on AMD Zen 4 (torch 2.13). Float32 keeps the fused kernel, so its
            # outputs stay as they were (there the products were only 1.2-1.5x faster).
            scores = torch.matmul(q, k.transpose(-2, -1)).float() / math.sqrt(q.size(-1))
            return torch.matmul(masked_softmax(scores, mask).to(v.dtype), v), None
        output = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p,
                                                is_causal=causal)
        return output, None

    if causal:
        mask = _with_causal(mask, q.size(-2), k.size(-2))
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., q_len, k_len)
    weights = masked_softmax(scores, mask)
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    return dropped @ v, weights


def causal_mask(length: int, device: torch.device | None = None) -> Tensor:
    """(length, length) bool, True on and below the diagonal: position i sees 0..i."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def _with_causal(mask: Tensor | None, q_len: int, k_len: int) -> Tensor:
    """Combine a mask with the causal one (as bool, or as additive -inf if mask is float)."""
    device = mask.device if mask is not None else None
    causal = causal_mask(k_len, device)[k_len - q_len:]  # the last q_len query rows
    if mask is None:
        return causal
    if mask.dtype == torch.bool:
        return mask & causal
    return mask.masked_fill(~causal, float("-inf"))


class DotProductAttention(nn.Module):
    """Luong global attention of decoder states over all encoder states.

    score "dot":     h_t . h_s
    score "general": h_t . (W_a h_s)   (= h_t^T W_a h_s; W_a h_s is computed once per sentence)
    scale=True divides the score by sqrt(hidden_size) (Vaswani et al.'s reason holds here too:
    dot products of wide vectors grow large and the softmax saturates; an unscaled Tatoeba RNN put
    99.8 % of its attention on the source's EOS after 10 minutes, learning nothing of alignment).
    """

    def __init__(self, hidden_size: int, score: Literal["dot", "general"] = "dot", scale: bool = False) -> None:
        super().__init__()
        self.score = score
        self.scale = hidden_size ** -0.5 if scale else None
        self.key_proj = nn.Linear(hidden_size, hidden_size, bias=False) if score == "general" else None

    def keys(self, encoder_states: Tensor) -> Tensor:
        """What each query is compared with: h_s (dot) or W_a h_s (general).

        encoder_states: (batch, src_len, hidden) -> (batch, src_len, hidden).
        """
        return encoder_states if self.key_proj is None else self.key_proj(encoder_states)

    def forward(
        self,
        queries: Tensor,
        encoder_states: Tensor,
        src_mask: Tensor,
        keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Attend from every query step over all source positions.

        queries: (batch, tgt_len, hidden) decoder states h_t (tgt_len may be 1).
        encoder_states: (batch, src_len, hidden) h_s, the values averaged into the context.
        src_mask: (batch, src_len) bool, True at real tokens.
        keys: precomputed `self.keys(encoder_states)` (saves W_a h_s at every decoding step).
        Returns context (batch, tgt_len, hidden) and weights (batch, tgt_len, src_len).
        """
        if keys is None:
            keys = self.keys(encoder_states)
        if self.scale is not None:
            queries = queries * self.scale  # scaling the smaller operand costs least
        scores = queries @ keys.transpose(1, 2)  # (batch, tgt_len, src_len)
        weights = masked_softmax(scores, src_mask.unsqueeze(1))
        context = weights @ encoder_states  # (batch, tgt_len, hidden)
        return context, weights


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention with one fused Q/K/V projection.

    `qkv_proj` holds W^Q, W^K, W^V of all heads stacked as one (3 * d_model, d_model) matrix, so
    self-attention projects queries, keys and values in one matmul; encoder-decoder attention
    uses the first third for the queries and the other two thirds for the memory's keys/values.
    Heads are a tensor dimension: (batch, heads, len, d_head), all computed in one batched op.
    """

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by heads ({heads})")
        self.d_model = d_model
        self.heads = heads
        self.d_head = d_model // heads
        self.dropout = dropout
        self.qkv_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    # -- projections ------------------------------------------------------------------------

    def split_heads(self, states: Tensor) -> Tensor:
        """(batch, len, d_model) -> (batch, heads, len, d_head)."""
        batch, length, _ = states.shape
        return states.view(batch, length, self.heads, self.d_head).transpose(1, 2)

    def merge_heads(self, states: Tensor) -> Tensor:
        """(batch, heads, len, d_head) -> (batch, len, d_model): concatenate the heads."""
        batch, _, length, _ = states.shape
        return states.transpose(1, 2).reshape(batch, length, self.d_model)

    def project_qkv(self, states: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Self-attention projections, one matmul: (batch, len, d_model) -> 3 x (batch, heads, len, d_head)."""
        batch, length, _ = states.shape
        qkv = self.qkv_proj(states).view(batch, length, 3, self.heads, self.d_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        return q, k, v

    def project_query(self, states: Tensor) -> Tensor:
        """(batch, q_len, d_model) -> (batch, heads, q_len, d_head) with W^Q only."""
        d = self.d_model
        return self.split_heads(F.linear(states, self.qkv_proj.weight[:d], self.qkv_proj.bias[:d]))

    def project_kv(self, states: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values of a memory: (batch, k_len, d_model) -> 2 x (batch, heads, k_len, d_head)."""
        batch, length, _ = states.shape
        d = self.d_model
        kv = F.linear(states, self.qkv_proj.weight[d:], self.qkv_proj.bias[d:])
        k, v = kv.view(batch, length, 2, self.heads, self.d_head).permute(2, 0, 3, 1, 4).unbind(0)
        return k, v

    # -- attention --------------------------------------------------------------------------

    def attend(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        mask: Tensor | None = None,
        need_weights: bool = False,
        causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attention of projected heads, then concatenation and W^O.

        q: (batch, heads, q_len, d_head); k, v: (batch, heads, k_len, d_head).
        mask: broadcastable to (batch, heads, q_len, k_len), bool True = attend.
        Returns (batch, q_len, d_model) and weights (batch, heads, q_len, k_len) or None.
        """
        dropout_p = self.dropout if self.training else 0.0
        heads_out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p, need_weights, causal)
        return self.out_proj(self.merge_heads(heads_out)), weights

    def cached_self_attention(self, states: Tensor, key_cache: Tensor, value_cache: Tensor,
                              position: int) -> Tensor:
        """Self-attention of one new position over itself and the cached earlier positions.

        states: (batch, 1, d_model) at `position`. key_cache, value_cache: (batch, heads, capacity,
        d_head), filled for positions < `position`; this position's key and value are written
        into them (in place), so earlier positions are never projected again.
        Returns (batch, 1, d_model).
        """
        q, k, v = self.project_qkv(states)
        key_cache[:, :, position : position + 1] = k
        value_cache[:, :, position : position + 1] = v
        # Attend over the whole cache with the positions not decoded yet masked out: attention
        # reads contiguous keys/values ~2x faster than a [:position + 1] slice of them.
        capacity = key_cache.size(2)
        written = torch.arange(capacity, device=key_cache.device) <= position
        return self.attend(q, key_cache, value_cache, written.unsqueeze(0))[0]  # mask (1, capacity)

    def forward(
        self,
        query: Tensor,
        memory: Tensor | None = None,
        mask: Tensor | None = None,
        need_weights: bool = False,
        causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Self-attention (memory None) or attention of `query` over `memory`.

        query: (batch, q_len, d_model); memory: (batch, k_len, d_model).
        mask: broadcastable to (batch, heads, q_len, k_len), e.g. a key padding mask
        (batch, 1, 1, k_len); causal: hide future positions (self-attention).
        Returns (batch, q_len, d_model) and weights (batch, heads, q_len, k_len) or None.
        """
        if memory is None:
            q, k, v = self.project_qkv(query)
        else:
            q = self.project_query(query)
            k, v = self.project_kv(memory)
        return self.attend(q, k, v, mask, need_weights, causal)
