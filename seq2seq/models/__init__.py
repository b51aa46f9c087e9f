"""Model families behind one interface (`Seq2SeqModel`), and how to build one from a config."""

from __future__ import annotations

from torch import nn

from seq2seq.config import ModelConfig
from seq2seq.errors import UserError
from seq2seq.models.base import Memory, Seq2SeqModel
from seq2seq.models.rnn import RNNModel
from seq2seq.models.transformer import TransformerModel

__all__ = ["Memory", "Seq2SeqModel", "build_model", "count_parameters", "describe_model"]

FAMILIES: dict[str, type[Seq2SeqModel]] = {"rnn": RNNModel, "transformer": TransformerModel}


def build_model(cfg: ModelConfig, src_vocab_size: int, tgt_vocab_size: int, joint_vocab: bool) -> Seq2SeqModel:
    """A freshly initialised model (seed torch beforehand for reproducible weights).

    tie_embeddings ties the target embeddings with the output layer, and also the source
    embeddings with the target ones when the vocabulary is joint.
    """
    if cfg.type not in FAMILIES:
        raise UserError(f"model.type must be one of {', '.join(FAMILIES)}; got {cfg.type!r}")
    cfg.check("model")
    if joint_vocab and src_vocab_size != tgt_vocab_size:
        raise UserError(f"data.joint_vocab is true but the source vocabulary has {src_vocab_size} pieces "
                        f"and the target one {tgt_vocab_size}; a joint vocabulary is one model for both")
    return FAMILIES[cfg.type](
        cfg, src_vocab_size, tgt_vocab_size,
        share_src_tgt_embeddings=joint_vocab and cfg.tie_embeddings,
        tie_output=cfg.tie_embeddings,
    )


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, each tied tensor counted once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def describe_model(cfg: ModelConfig, model: Seq2SeqModel) -> str:
    """One line: family, sizes, layers, heads, dropout, tying and parameter count."""
    tied = []
    if model.src_embed is model.tgt_embed:
        tied.append("source=target embeddings")
    if model.output_proj.weight is model.tgt_embed.weight:
        tied.append("target embeddings=output layer")
    if cfg.type == "transformer":
        sizes = (f"transformer: d_model {cfg.d_model}, ff {cfg.ff_size}, {cfg.heads} heads, "
                 f"{cfg.encoder_layers}+{cfg.decoder_layers} layers, {cfg.norm}-norm, "
                 f"dropout {cfg.dropout}, attention dropout {cfg.attention_dropout}")
    else:
        encoder = "bidirectional" if cfg.bidirectional else "unidirectional"
        attention = "no attention" if cfg.attention == "none" else f"{cfg.attention} attention"
        feeding = "input feeding" if cfg.input_feeding else "no input feeding"
        sizes = (f"rnn ({cfg.rnn_cell}): embedding {cfg.embedding_dim}, hidden {cfg.hidden_size}, "
                 f"{encoder} encoder {cfg.encoder_layers} layers, decoder {cfg.decoder_layers} layers, "
                 f"{attention}, {feeding}, dropout {cfg.dropout}")
        if "target embeddings=output layer" in tied and cfg.embedding_dim != cfg.hidden_size:
            tied[-1] += f" (attentional layer sized {cfg.embedding_dim} to match)"
    tying = "tied " + ", ".join(tied) if tied else "untied embeddings"
    return f"{sizes}; {tying}; {count_parameters(model):,} parameters"
