"""SentencePiece subword models: training, encoding, decoding, (de)serialising.

Every model s2s trains reserves the ids in `seq2seq.special_tokens` (pad 0, unk 1, bos 2,
eos 3), so data, models and search agree on them.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable, Iterator

import sentencepiece as spm

from seq2seq.errors import UserError
from seq2seq.special_tokens import BOS_ID, EOS_ID, PAD_ID, UNK_ID


class Tokenizer:
    """A SentencePiece model: text <-> piece ids (no BOS/EOS added)."""

    def __init__(self, model_proto: bytes, origin: str = "<memory>") -> None:
        self._proto = model_proto
        self.origin = origin
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(model_proto)
        except Exception as exc:  # sentencepiece raises plain RuntimeError/OSError
            raise UserError(f"{origin}: not a valid SentencePiece model ({exc})") from None
        if (self._sp.pad_id(), self._sp.unk_id(), self._sp.bos_id(), self._sp.eos_id()) != (
                PAD_ID, UNK_ID, BOS_ID, EOS_ID):
            raise UserError(f"{origin}: SentencePiece model has other special-token ids than s2s "
                            "uses (pad 0, unk 1, bos 2, eos 3); re-run `s2s data prepare`")

    @classmethod
    def from_file(cls, path: str | Path) -> "Tokenizer":
        path = Path(path)
        try:
            return cls(path.read_bytes(), origin=str(path))
        except FileNotFoundError:
            raise UserError(f"{path}: SentencePiece model not found; run `s2s data prepare` first") from None

    def to_bytes(self) -> bytes:
        return self._proto

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text, out_type=int)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Encode many sentences at once (SentencePiece's C++ loop, several threads)."""
        return self._sp.encode(texts, out_type=int, num_threads=2)

    def decode(self, ids: Iterable[int]) -> str:
        """Piece ids -> detokenised text; special ids are dropped."""
        return self._sp.decode([i for i in ids if i > EOS_ID])

    def pieces(self, ids: Iterable[int]) -> list[str]:
        """Ids -> their pieces (for attention plots)."""
        return [self._sp.id_to_piece(int(i)) for i in ids]


def train_sentencepiece(sentences: Iterator[str], *, vocab_size: int, model_type: str,
                        character_coverage: float, max_sentences: int = 0,
                        seed_sentences_shuffle: bool = True) -> bytes:
    """Train a SentencePiece model on an iterator of sentences; returns the model proto.

    Training is deterministic for the same sentences and settings (one thread).
    """
    proto = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=sentences,
            model_writer=proto,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            input_sentence_size=max_sentences,
            shuffle_input_sentence=seed_sentences_shuffle,
            pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
            num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as exc:
        message = str(exc).strip().splitlines()[-1]
        if "Vocabulary size too high" in message or "vocab_size" in message:
            raise UserError(f"data.vocab_size={vocab_size} is too large for this corpus: {message}. "
                            "Choose a smaller data.vocab_size") from None
        raise UserError(f"SentencePiece training failed: {message}") from None
    return proto.getvalue()


def spm_filenames(joint: bool) -> tuple[str, str]:
    """File names of the (source, target) SentencePiece models inside a data or run dir."""
    return ("spm.model", "spm.model") if joint else ("spm.src.model", "spm.tgt.model")


def load_tokenizers(directory: str | Path, joint: bool) -> tuple[Tokenizer, Tokenizer]:
    """The (source, target) tokenizers stored in a data or run directory (one object if joint)."""
    src_name, tgt_name = spm_filenames(joint)
    src = Tokenizer.from_file(Path(directory) / src_name)
    tgt = src if joint else Tokenizer.from_file(Path(directory) / tgt_name)
    return src, tgt
