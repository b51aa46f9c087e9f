"""Recurrent encoder-decoder with Luong attention (Luong et al., 2015), or without attention.

encoder: embeddings -> (bi)GRU/LSTM over the packed source -> states (batch, src_len, dirs * hidden),
         projected once to (batch, src_len, hidden) so that dot scores with decoder states work.
bridge:  decoder initial hidden state = tanh(W_b [final forward state; final backward state] + b)
         for every decoder layer (LSTM cell states start at zero).
decoder: h_t = RNN(h_{t-1}, [y_{t-1}; h~_{t-1}])            ([; h~_{t-1}] only with input feeding)
         c_t = sum_s a_t(s) h_s with a_t = softmax(score(h_t, h_s) / sqrt(hidden))   (attention.DotProductAttention;
                                                          without the scaling with model.attention_scale false)
         h~_t = tanh(W_c [c_t; h_t])                         (attention: none -> tanh(W_c h_t))
         logits = W_out h~_t
With `attention: none` the decoder only sees the encoder through the bridge: the classic
fixed-size bottleneck. Without input feeding the decoder RNN runs over the whole target in one
call and attention covers all steps at once; with it, the steps are a loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seq2seq.config import ModelConfig
from seq2seq.models.attention import DotProductAttention
from seq2seq.models.base import Memory, Seq2SeqModel, lengths_to_mask
from seq2seq.models.dropout import Dropout
from seq2seq.special_tokens import PAD_ID

RNN_CLASSES: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU}

RNNHidden = Tensor | tuple[Tensor, Tensor]  # GRU h, or LSTM (h, c); each (layers, batch, hidden)


@dataclass(kw_only=True)
class RNNMemory(Memory):
    # (batch, src_len, hidden) W_a h_s for "general" attention; None for "dot" (keys are encoder_out)
    attn_keys: Tensor | None
    decoder_init: Tensor  # (batch, decoder_layers, hidden) initial decoder hidden state (bridge)


@dataclass
class RNNState:
    """Decoder state after a step."""

    hidden: Tensor  # (decoder_layers, batch, hidden)
    cell: Tensor | None  # (decoder_layers, batch, hidden), LSTM only
    attentional: Tensor | None  # (batch, attentional_size) h~_t, kept only for input feeding

    def index_select(self, order: Tensor) -> RNNState:
        return RNNState(
            self.hidden.index_select(1, order),
            None if self.cell is None else self.cell.index_select(1, order),
            None if self.attentional is None else self.attentional.index_select(0, order),
        )


def init_forget_gate_bias(*lstms: nn.LSTM, value: float = 1.0) -> None:
    """Start the LSTM forget gates open (Jozefowicz et al., 2015): memory is kept by default,
    so gradients reach early positions from the first update."""
    for lstm in lstms:
        for name, bias in lstm.named_parameters():
            if name.startswith("bias_ih"):  # gates are ordered input, forget, cell, output
                size = bias.numel() // 4
                with torch.no_grad():
                    bias[size:2 * size].fill_(value)


class RNNEncoder(nn.Module):
    """(Bi)directional multi-layer GRU/LSTM over the embedded source."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.directions = 2 if cfg.bidirectional else 1
        self.rnn = RNN_CLASSES[cfg.rnn_cell](
            cfg.embedding_dim, cfg.hidden_size, num_layers=cfg.encoder_layers, batch_first=True,
            bidirectional=cfg.bidirectional, dropout=cfg.dropout if cfg.encoder_layers > 1 else 0.0,
        )

    def forward(self, embedded: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """embedded: (batch, src_len, embedding_dim), src_lengths: (batch,).

        Returns the top layer's states (batch, src_len, dirs * hidden) (zeros at padding) and its
        final state of each direction, concatenated (batch, dirs * hidden).
        """
        # Packing makes each direction stop/start at the real end of every sentence.
        packed = pack_padded_sequence(embedded, src_lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_states, final = self.rnn(packed)
        states, _ = pad_packed_sequence(packed_states, batch_first=True, total_length=embedded.size(1))
        final_hidden = final[0] if isinstance(final, tuple) else final  # (layers * dirs, batch, hidden)
        top_layer = final_hidden[-self.directions:]  # (dirs, batch, hidden)
        return states, torch.cat(list(top_layer), dim=-1)


class RNNDecoder(nn.Module):
    """Decoder RNN plus the attentional layer h~ = tanh(W_c [c_t; h_t])."""

    def __init__(self, cfg: ModelConfig, attentional_size: int) -> None:
        super().__init__()
        self.input_feeding = cfg.input_feeding
        input_size = cfg.embedding_dim + (attentional_size if cfg.input_feeding else 0)
        self.rnn = RNN_CLASSES[cfg.rnn_cell](
            input_size, cfg.hidden_size, num_layers=cfg.decoder_layers, batch_first=True,
            dropout=cfg.dropout if cfg.decoder_layers > 1 else 0.0,
        )
        self.attention = (None if cfg.attention == "none"
                          else DotProductAttention(cfg.hidden_size, cfg.attention, cfg.attention_scale))
        combined_size = cfg.hidden_size * (1 if self.attention is None else 2)
        self.attentional_proj = nn.Linear(combined_size, attentional_size, bias=False)  # W_c
        self.dropout = Dropout(cfg.dropout)

    def attentional_states(self, rnn_states: Tensor, memory: RNNMemory,
                           need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """h~ of every given step: rnn_states (batch, steps, hidden) -> (batch, steps, attentional_size).

        Also returns the attention weights (batch, steps, src_len) if asked (None without attention).
        """
        if self.attention is None:
            return self.dropout(torch.tanh(self.attentional_proj(rnn_states))), None
        context, weights = self.attention(rnn_states, memory.encoder_out, memory.src_mask, memory.attn_keys)
        attentional = torch.tanh(self.attentional_proj(torch.cat([context, rnn_states], dim=-1)))
        return self.dropout(attentional), (weights if need_weights else None)

    def forward(self, embedded: Tensor, memory: RNNMemory, hidden: RNNHidden,
                prev_attentional: Tensor | None, need_weights: bool = False,
                ) -> tuple[Tensor, RNNHidden, Tensor | None]:
        """Steps of teacher-forced or incremental decoding.

        embedded: (batch, steps, embedding_dim) target inputs; hidden: the RNN state before them;
        prev_attentional: (batch, 1, attentional_size) h~ of the step before (input feeding only).
        Returns h~ (batch, steps, attentional_size), the RNN state after the last step and
        weights (batch, steps, src_len) if need_weights.
        """
        if not self.input_feeding:
            rnn_states, hidden = self.rnn(embedded, hidden)  # every step in one call
            attentional, weights = self.attentional_states(rnn_states, memory, need_weights)
            return attentional, hidden, weights
        # Input feeding makes step t depend on h~_{t-1}: a loop over time is unavoidable.
        outputs, step_weights = [], []
        for step_input in embedded.split(1, dim=1):
            rnn_state, hidden = self.rnn(torch.cat([step_input, prev_attentional], dim=-1), hidden)
            prev_attentional, weights = self.attentional_states(rnn_state, memory, need_weights)
            outputs.append(prev_attentional)
            step_weights.append(weights)
        weights = torch.cat(step_weights, dim=1) if need_weights and self.attention is not None else None
        return torch.cat(outputs, dim=1), hidden, weights


class RNNModel(Seq2SeqModel):
    """Embeddings, RNNEncoder, bridge, RNNDecoder and the output layer."""

    def __init__(self, cfg: ModelConfig, src_vocab_size: int, tgt_vocab_size: int,
                 share_src_tgt_embeddings: bool, tie_output: bool) -> None:
        super().__init__()
        self.cfg = cfg
        self.is_lstm = cfg.rnn_cell == "lstm"
        self.decoder_layers = cfg.decoder_layers
        self.hidden_size = cfg.hidden_size
        # Tying needs W_out's input size to be embedding_dim: then h~ is made that size directly.
        self.attentional_size = cfg.embedding_dim if tie_output else cfg.hidden_size
        self.tgt_embed = nn.Embedding(tgt_vocab_size, cfg.embedding_dim, padding_idx=PAD_ID)
        self.src_embed = (self.tgt_embed if share_src_tgt_embeddings
                          else nn.Embedding(src_vocab_size, cfg.embedding_dim, padding_idx=PAD_ID))
        embeddings = [self.tgt_embed] if share_src_tgt_embeddings else [self.src_embed, self.tgt_embed]
        for embedding in embeddings:
            nn.init.normal_(embedding.weight, std=cfg.embedding_dim ** -0.5)
            with torch.no_grad():
                embedding.weight[PAD_ID].zero_()
        # Embeddings start small (std d^-1/2) because the output layer shares them; scaling them
        # by sqrt(d) on the way in gives the RNNs unit-variance inputs, as in the Transformer.
        # Without it the inputs are 16x smaller (d = 256) and the model sat on the "ignore the
        # source" plateau (train loss ~5.9 from update 150 to 250 on Tatoeba).
        self.embed_scale = cfg.embedding_dim ** 0.5
        self.dropout = Dropout(cfg.dropout)
        self.encoder = RNNEncoder(cfg)
        encoder_size = self.encoder.directions * cfg.hidden_size
        self.bridge = nn.Linear(encoder_size, cfg.decoder_layers * cfg.hidden_size)
        # (dirs * hidden) -> hidden once per sentence, so that h_t . h_s is defined
        self.encoder_proj = (nn.Linear(encoder_size, cfg.hidden_size, bias=False)
                             if cfg.attention != "none" and encoder_size != cfg.hidden_size else None)
        self.decoder = RNNDecoder(cfg, self.attentional_size)
        self.output_proj = nn.Linear(self.attentional_size, tgt_vocab_size, bias=False)
        if tie_output:
            self.output_proj.weight = self.tgt_embed.weight
        if self.is_lstm:
            init_forget_gate_bias(self.encoder.rnn, self.decoder.rnn)

    @property
    def attention_layers(self) -> int:
        return 0 if self.cfg.attention == "none" else 1

    def encode(self, src_tokens: Tensor, src_lengths: Tensor) -> RNNMemory:
        """src_tokens (batch, src_len) -> memory with encoder_out (batch, src_len, hidden)."""
        src_mask = lengths_to_mask(src_lengths, src_tokens.size(1))
        embedded = self.dropout(self.src_embed(src_tokens) * self.embed_scale)
        encoder_states, final = self.encoder(embedded, src_lengths)
        batch = src_tokens.size(0)
        decoder_init = torch.tanh(self.bridge(final)).view(batch, self.decoder_layers, self.hidden_size)
        if self.decoder.attention is None:  # the bottleneck: nothing but the bridge goes on
            return RNNMemory(src_mask=src_mask, encoder_out=None, attn_keys=None, decoder_init=decoder_init)
        if self.encoder_proj is not None:
            encoder_states = self.encoder_proj(encoder_states)
        attention = self.decoder.attention
        attn_keys = attention.keys(encoder_states) if attention.key_proj is not None else None
        return RNNMemory(src_mask=src_mask, encoder_out=encoder_states, attn_keys=attn_keys,
                         decoder_init=decoder_init)

    def _initial_state(self, memory: RNNMemory) -> RNNState:
        hidden = memory.decoder_init.transpose(0, 1).contiguous()  # (layers, batch, hidden)
        cell = torch.zeros_like(hidden) if self.is_lstm else None
        attentional = (hidden.new_zeros(hidden.size(1), self.attentional_size)
                       if self.decoder.input_feeding else None)
        return RNNState(hidden, cell, attentional)

    def _run_decoder(self, memory: RNNMemory, state: RNNState, prev_tokens: Tensor,
                     need_weights: bool) -> tuple[Tensor, RNNState, Tensor | None]:
        """prev_tokens (batch, steps) -> h~ (batch, steps, attentional_size), state after, weights."""
        embedded = self.dropout(self.tgt_embed(prev_tokens) * self.embed_scale)
        hidden = (state.hidden, state.cell) if self.is_lstm else state.hidden
        prev_attentional = None if state.attentional is None else state.attentional.unsqueeze(1)
        attentional, hidden, weights = self.decoder(embedded, memory, hidden, prev_attentional, need_weights)
        new_hidden, new_cell = hidden if self.is_lstm else (hidden, None)
        last_attentional = attentional[:, -1] if self.decoder.input_feeding else None
        return attentional, RNNState(new_hidden, new_cell, last_attentional), weights

    def forward(self, src_tokens: Tensor, src_lengths: Tensor, prev_tokens: Tensor,
                project: bool = True) -> Tensor:
        """(batch, src_len), (batch,), (batch, tgt_len) -> logits (batch, tgt_len, tgt_vocab),
        or the attentional states h~ (batch, tgt_len, attentional_size) if not project."""
        memory = self.encode(src_tokens, src_lengths)
        attentional, _, _ = self._run_decoder(memory, self._initial_state(memory), prev_tokens, False)
        return self.output_proj(attentional) if project else attentional

    def decode_step(
        self,
        memory: RNNMemory,
        state: RNNState | None,
        prev_tokens: Tensor,
        need_attention: bool = False,
    ) -> tuple[Tensor, RNNState, Tensor | None]:
        """prev_tokens (batch,) -> logits (batch, tgt_vocab), state, weights (batch, 1, 1, src_len) or None."""
        if state is None:
            state = self._initial_state(memory)
        attentional, state, weights = self._run_decoder(memory, state, prev_tokens.unsqueeze(1), need_attention)
        attention = weights.unsqueeze(1) if weights is not None else None  # (batch, 1, 1, src_len)
        return self.output_proj(attentional.squeeze(1)), state, attention
