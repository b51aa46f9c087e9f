"""The Transformer (Vaswani et al., 2017), encoder-decoder, with incremental decoding.

Read top to bottom: positional encoding, the encoder layer, the decoder layer, the model.
Each layer is
    pre-norm:  x = x + Dropout(Sublayer(LayerNorm(x)))     (plus a final LayerNorm per stack)
    post-norm: x = LayerNorm(x + Dropout(Sublayer(x)))     (the paper's arrangement)
Decoding one token at a time keeps, per decoder layer, the self-attention keys and values of the
steps already decoded (a preallocated cache written in place) and the encoder-decoder keys and
values computed once from the encoder output, so a step costs O(current length), not a re-run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seq2seq.config import ModelConfig
from seq2seq.errors import UserError
from seq2seq.models.attention import MultiHeadAttention
from seq2seq.models.base import Memory, Seq2SeqModel, lengths_to_mask
from seq2seq.models.dropout import Dropout
from seq2seq.special_tokens import PAD_ID

INITIAL_CACHE_STEPS = 8  # self-attention cache capacity before the first doubling


def sinusoidal_positions(max_positions: int, d_model: int) -> Tensor:
    """(max_positions, d_model) table PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...)."""
    positions = torch.arange(max_positions, dtype=torch.float64).unsqueeze(1)  # (max_positions, 1)
    even_dims = torch.arange(0, d_model, 2, dtype=torch.float64)  # 2i
    angles = positions / (10000.0 ** (even_dims / d_model))  # (max_positions, ceil(d/2))
    table = torch.zeros(max_positions, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return table.float()


class PositionalEncoding(nn.Module):
    """Adds the sinusoidal position of every token to its (scaled) embedding."""

    def __init__(self, d_model: int, max_positions: int) -> None:
        super().__init__()
        self.max_positions = max_positions
        self.register_buffer("table", sinusoidal_positions(max_positions, d_model), persistent=False)

    def forward(self, embedded: Tensor, start: int = 0) -> Tensor:
        """embedded: (batch, len, d_model), the tokens at positions start .. start+len-1."""
        end = start + embedded.size(1)
        if end > self.max_positions:
            raise UserError(f"a sequence of {end} tokens is longer than model.max_positions "
                            f"({self.max_positions}); raise it or filter long sentences")
        return embedded + self.table[start:end]


class FeedForward(nn.Module):
    """Position-wise FFN(x) = max(0, x W_1 + b_1) W_2 + b_2.

    No dropout inside (as in the paper; the layer's residual dropout follows it): a mask for the
    (tokens, ff_size) activations, the largest of the layer, made up ~40% of all dropout time on CPU.
    """

    def __init__(self, d_model: int, ff_size: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(d_model, ff_size)
        self.out = nn.Linear(ff_size, d_model)

    def forward(self, states: Tensor) -> Tensor:
        return self.out(F.relu(self.hidden(states)))


class ResidualLayer(nn.Module):
    """What encoder and decoder layers share: how a sub-layer joins the residual stream."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.pre_norm = cfg.norm == "pre"
        self.dropout = Dropout(cfg.dropout)

    def residual(self, states: Tensor, sublayer: Callable[[Tensor], Tensor], norm: nn.LayerNorm) -> Tensor:
        """pre-norm: x + Dropout(Sublayer(LayerNorm(x))); post-norm: LayerNorm(x + Dropout(Sublayer(x)))."""
        if self.pre_norm:
            return states + self.dropout(sublayer(norm(states)))
        return norm(states + self.dropout(sublayer(states)))


class EncoderLayer(ResidualLayer):
    """Self-attention over the source, then the feed-forward network."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.heads, cfg.attention_dropout)
        self.feed_forward = FeedForward(cfg.d_model, cfg.ff_size)
        self.self_attn_norm = nn.LayerNorm(cfg.d_model)
        self.ff_norm = nn.LayerNorm(cfg.d_model)

    def forward(self, states: Tensor, src_attn_mask: Tensor) -> Tensor:
        """states: (batch, src_len, d_model); src_attn_mask: (batch, 1, 1, src_len) bool."""

        def self_attention(x: Tensor) -> Tensor:
            return self.self_attn(x, mask=src_attn_mask)[0]

        states = self.residual(states, self_attention, self.self_attn_norm)
        return self.residual(states, self.feed_forward, self.ff_norm)


class DecoderLayer(ResidualLayer):
    """Causal self-attention, attention over the encoder output, then the feed-forward network."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.heads, cfg.attention_dropout)
        self.cross_attn = MultiHeadAttention(cfg.d_model, cfg.heads, cfg.attention_dropout)
        self.feed_forward = FeedForward(cfg.d_model, cfg.ff_size)
        self.self_attn_norm = nn.LayerNorm(cfg.d_model)
        self.cross_attn_norm = nn.LayerNorm(cfg.d_model)
        self.ff_norm = nn.LayerNorm(cfg.d_model)

    def forward(self, states: Tensor, encoder_out: Tensor, src_attn_mask: Tensor) -> Tensor:
        """Teacher-forced, all target positions at once.

        states: (batch, tgt_len, d_model); encoder_out: (batch, src_len, d_model);
        src_attn_mask: (batch, 1, 1, src_len) bool. Returns (batch, tgt_len, d_model).
        """

        def self_attention(x: Tensor) -> Tensor:
            return self.self_attn(x, causal=True)[0]

        def cross_attention(x: Tensor) -> Tensor:
            return self.cross_attn(x, encoder_out, mask=src_attn_mask)[0]

        states = self.residual(states, self_attention, self.self_attn_norm)
        states = self.residual(states, cross_attention, self.cross_attn_norm)
        return self.residual(states, self.feed_forward, self.ff_norm)

    def step(
        self,
        states: Tensor,
        self_keys: Tensor,
        self_values: Tensor,
        position: int,
        cross_keys: Tensor,
        cross_values: Tensor,
        src_attn_mask: Tensor,
        need_weights: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """One new target position, attending over the cached earlier ones.

        states: (batch, 1, d_model), the input of this layer at `position`.
        self_keys, self_values: (batch, heads, capacity, d_head) cache of this layer; this step
        writes its own key/value at `position` and attends over positions 0..position.
        cross_keys, cross_values: (batch, heads, src_len, d_head), computed once by `encode`.
        Returns (batch, 1, d_model) and the cross-attention weights (batch, heads, 1, src_len) or None.
        """
        cross_weights = None

        def self_attention(x: Tensor) -> Tensor:
            return self.self_attn.cached_self_attention(x, self_keys, self_values, position)

        def cross_attention(x: Tensor) -> Tensor:
            nonlocal cross_weights
            q = self.cross_attn.project_query(x)
            output, cross_weights = self.cross_attn.attend(q, cross_keys, cross_values, src_attn_mask,
                                                           need_weights=need_weights)
            return output

        states = self.residual(states, self_attention, self.self_attn_norm)
        states = self.residual(states, cross_attention, self.cross_attn_norm)
        return self.residual(states, self.feed_forward, self.ff_norm), cross_weights


@dataclass(kw_only=True)
class TransformerMemory(Memory):
    # per decoder layer, the keys and values of its encoder-decoder attention, projected once
    # per sentence: (batch, heads, src_len, d_head) each
    cross_keys_values: list[tuple[Tensor, Tensor]]


@dataclass
class TransformerState:
    """Self-attention keys/values of the target steps decoded so far."""

    # (layers, 2, batch, heads, capacity, d_head): keys (0) and values (1) of every decoder layer;
    # positions < length are filled, the rest are zeros. cache[layer, 0] is contiguous.
    cache: Tensor
    length: int  # steps decoded so far (the next token's position)

    def index_select(self, order: Tensor) -> TransformerState:
        layers, _, _, heads, capacity, d_head = self.cache.shape
        # as (layers * 2, batch, rest): index_select on a 3-d view copies ~1.5x faster than on dim 2 of 6
        rows = self.cache.view(layers * 2, -1, heads * capacity * d_head).index_select(1, order)
        return TransformerState(rows.view(layers, 2, -1, heads, capacity, d_head), self.length)


class TransformerModel(Seq2SeqModel):
    """Encoder and decoder stacks over shared or separate embeddings."""

    def __init__(self, cfg: ModelConfig, src_vocab_size: int, tgt_vocab_size: int,
                 share_src_tgt_embeddings: bool, tie_output: bool) -> None:
        super().__init__()
        self.cfg = cfg
        self.d_model = cfg.d_model
        self.pre_norm = cfg.norm == "pre"
        self.embed_scale = math.sqrt(cfg.d_model)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, cfg.d_model, padding_idx=PAD_ID)
        self.src_embed = (self.tgt_embed if share_src_tgt_embeddings
                          else nn.Embedding(src_vocab_size, cfg.d_model, padding_idx=PAD_ID))
        self.positions = PositionalEncoding(cfg.d_model, cfg.max_positions)
        self.dropout = Dropout(cfg.dropout)
        self.encoder_layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.encoder_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.decoder_layers))
        # pre-norm leaves the residual stream un-normalised: one LayerNorm closes each stack
        self.encoder_norm = nn.LayerNorm(cfg.d_model) if self.pre_norm else nn.Identity()
        self.decoder_norm = nn.LayerNorm(cfg.d_model) if self.pre_norm else nn.Identity()
        self.output_proj = nn.Linear(cfg.d_model, tgt_vocab_size, bias=False)
        self._init_weights()
        if tie_output:
            self.output_proj.weight = self.tgt_embed.weight

    @property
    def max_positions(self) -> int:
        return self.cfg.max_positions

    @property
    def attention_layers(self) -> int:
        return len(self.decoder_layers)

    @property
    def attention_heads(self) -> int:
        return self.cfg.heads

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, MultiHeadAttention):
                for block in module.qkv_proj.weight.data.view(3, self.d_model, self.d_model):
                    nn.init.xavier_uniform_(block)  # W^Q, W^K, W^V each as its own matrix
                nn.init.zeros_(module.qkv_proj.bias)
            elif isinstance(module, nn.Linear) and module is not self.output_proj:
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                # N(0, 1/d): after the sqrt(d) scale the inputs have unit variance, and as the
                # tied output matrix the logits start small
                nn.init.normal_(module.weight, std=self.d_model ** -0.5)
                with torch.no_grad():
                    module.weight[PAD_ID].zero_()
        nn.init.normal_(self.output_proj.weight, std=self.d_model ** -0.5)

    # -- encoder ----------------------------------------------------------------------------

    def encode(self, src_tokens: Tensor, src_lengths: Tensor) -> TransformerMemory:
        """src_tokens (batch, src_len) -> memory with encoder_out (batch, src_len, d_model)."""
        src_mask = lengths_to_mask(src_lengths, src_tokens.size(1))
        encoder_out = self._encoder(src_tokens, src_mask)
        cross_keys_values = [tuple(kv.contiguous() for kv in layer.cross_attn.project_kv(encoder_out))
                             for layer in self.decoder_layers]
        return TransformerMemory(src_mask=src_mask, encoder_out=encoder_out, cross_keys_values=cross_keys_values)

    def _encoder(self, src_tokens: Tensor, src_mask: Tensor) -> Tensor:
        states = self.dropout(self.positions(self.src_embed(src_tokens) * self.embed_scale))
        attn_mask = src_mask[:, None, None, :]  # (batch, 1, 1, src_len): heads and queries broadcast
        for layer in self.encoder_layers:
            states = layer(states, attn_mask)
        return self.encoder_norm(states)

    # -- teacher-forced training ------------------------------------------------------------

    def forward(self, src_tokens: Tensor, src_lengths: Tensor, prev_tokens: Tensor,
                project: bool = True) -> Tensor:
        """(batch, src_len), (batch,), (batch, tgt_len) -> logits (batch, tgt_len, tgt_vocab),
        or the states before the output layer (batch, tgt_len, d_model) if not project."""
        src_mask = lengths_to_mask(src_lengths, src_tokens.size(1))
        encoder_out = self._encoder(src_tokens, src_mask)
        attn_mask = src_mask[:, None, None, :]
        # target padding is on the right, so the causal mask alone keeps real positions clean
        states = self.dropout(self.positions(self.tgt_embed(prev_tokens) * self.embed_scale))
        for layer in self.decoder_layers:
            states = layer(states, encoder_out, attn_mask)
        states = self.decoder_norm(states)
        return self.output_proj(states) if project else states

    # -- incremental decoding ---------------------------------------------------------------

    def decode_step(
        self,
        memory: TransformerMemory,
        state: TransformerState | None,
        prev_tokens: Tensor,
        need_attention: bool = False,
    ) -> tuple[Tensor, TransformerState, Tensor | None]:
        """prev_tokens (batch,) -> logits (batch, tgt_vocab), state, weights (batch, layers, heads, src_len).

        The state's cache is written in place (see Seq2SeqModel.decode_step).
        """
        batch = prev_tokens.size(0)
        if state is None:
            state = self._empty_state(batch, memory.encoder_out)
        elif state.length == state.cache.size(4):  # full
            state = self._grow(state)
        position = state.length
        states = self.positions(self.tgt_embed(prev_tokens).unsqueeze(1) * self.embed_scale, start=position)
        states = self.dropout(states)  # (batch, 1, d_model)
        attn_mask = memory.src_mask[:, None, None, :]
        layer_weights = []
        for index, layer in enumerate(self.decoder_layers):
            cross_keys, cross_values = memory.cross_keys_values[index]
            states, weights = layer.step(states, state.cache[index, 0], state.cache[index, 1], position,
                                         cross_keys, cross_values, attn_mask, need_attention)
            layer_weights.append(weights)
        logits = self.output_proj(self.decoder_norm(states)).squeeze(1)
        attention = torch.stack(layer_weights, dim=1).squeeze(3) if need_attention else None
        return logits, TransformerState(state.cache, position + 1), attention

    def _empty_state(self, batch: int, like: Tensor) -> TransformerState:
        layer = self.decoder_layers[0].self_attn
        # zeros, not empty: unwritten positions are masked, but garbage could hold NaN or inf
        cache = like.new_zeros(len(self.decoder_layers), 2, batch, layer.heads, INITIAL_CACHE_STEPS,
                               layer.d_head)
        return TransformerState(cache, 0)

    @staticmethod
    def _grow(state: TransformerState) -> TransformerState:
        """Double the cache capacity (amortised O(1) per step)."""
        full = state.cache
        bigger = full.new_zeros(*full.shape[:4], 2 * full.size(4), full.size(5))
        bigger[:, :, :, :, : full.size(4)] = full
        return TransformerState(bigger, state.length)
