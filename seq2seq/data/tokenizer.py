"""SentencePiece subword models: training, encoding, decoding, (de)serialising.

Every model s2s trains reserves the ids in `seq2seq.special_tokens` (pad 0, unk 1, bos 2,
eos 3), so data, models and search agree on them.
"""

from __future__ import annotations

import io
import random
import re
from pathlib import Path
from typing import Iterable, Sequence

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

    def encode_sampled(self, texts: list[str], alpha: float, seed: int) -> list[list[int]]:
        """Encode with subword regularisation: one segmentation sampled per sentence (BPE-dropout
        with drop probability `alpha` for a BPE model, unigram sampling with smoothing `alpha`).

        Reproducible: SentencePiece's generator is seeded with `seed` (it is global to the
        process, and each batched call starts from the seed set last), and the call runs on one
        thread, because with several threads which sentence draws which numbers is not fixed.
        """
        spm.set_random_generator_seed(seed)
        return self._sp.encode(texts, out_type=int, enable_sampling=True, alpha=alpha, nbest_size=-1,
                               num_threads=1)

    def decode(self, ids: Iterable[int]) -> str:
        """Piece ids -> detokenised text; special ids are dropped."""
        return self._sp.decode([i for i in ids if i > EOS_ID])

    def piece_id(self, piece: str) -> int:
        """The id of one piece (UNK_ID when the vocabulary does not have it)."""
        return self._sp.piece_to_id(piece)

    def pieces(self, ids: Iterable[int]) -> list[str]:
        """Ids -> their pieces (for attention plots)."""
        return [self._sp.id_to_piece(int(i)) for i in ids]


def train_sentencepiece(sentences: Iterable[str], *, vocab_size: int, model_type: str,
                        character_coverage: float, max_sentences: int = 0,
                        seed_sentences_shuffle: bool = True, seed: int = 0,
                        what: str = "data.vocab_size", symbols: Sequence[str] = ()) -> bytes:
    """Train a SentencePiece model on sentences; returns the model proto (bytes).

    Deterministic: the same sentences and settings give byte-identical models. Training runs
    on one thread, and when `max_sentences` > 0 (and fewer than all sentences) the sample is
    drawn here with `random.Random(seed)` (order kept) instead of by SentencePiece's own
    unseeded sampler. `seed_sentences_shuffle` is kept for compatibility; it has no effect.
    `what` names the config key in error messages (e.g. "data.vocab_size (source side)").
    `symbols` become pieces of their own, never split or merged (data.entity_symbols).
    """
    del seed_sentences_shuffle
    if max_sentences:
        sentences = list(sentences)
        if len(sentences) > max_sentences:
            chosen = sorted(random.Random(seed).sample(range(len(sentences)), max_sentences))
            sentences = [sentences[i] for i in chosen]
    proto = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=proto,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            input_sentence_size=0,  # all sentences given; any sampling was done above
            shuffle_input_sentence=False,
            pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
            user_defined_symbols=list(symbols),
            num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as exc:
        raise UserError(_training_error(str(exc), vocab_size, what)) from None
    return proto.getvalue()


def _training_error(message: str, vocab_size: int, what: str) -> str:
    """SentencePiece's C++ check failure -> one line that says which config key to change."""
    message = message.strip().splitlines()[-1] if message.strip() else "unknown error"
    key, _, side = what.partition(" ")
    setting = f"{key}={vocab_size}" + (f" {side}" if side else "")
    too_high = re.search(r"Vocabulary size too high \((\d+)\).*<= (\d+)", message)
    if too_high:
        return (f"{setting} is too large for this training data: SentencePiece can build at most "
                f"{too_high.group(2)} pieces from it; set {key} to {too_high.group(2)} or less, or "
                "use a bigger corpus")
    too_small = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", message)
    if too_small:
        return (f"{setting} is smaller than the {too_small.group(2)} characters and special tokens "
                f"the training data needs; raise {key} or lower data.character_coverage")
    if "sentences_.empty()" in message:
        return "SentencePiece training failed: no training sentences"
    message = re.sub(r"^INTERNAL: \S+ \[.*?\]\s*", "", message) or message
    return f"SentencePiece training failed: {message}"


def spm_filenames(joint: bool) -> tuple[str, str]:
    """File names of the (source, target) SentencePiece models inside a data or run dir."""
    return ("spm.model", "spm.model") if joint else ("spm.src.model", "spm.tgt.model")


def load_tokenizers(directory: str | Path, joint: bool) -> tuple[Tokenizer, Tokenizer]:
    """The (source, target) tokenizers stored in a data or run directory (one object if joint)."""
    src_name, tgt_name = spm_filenames(joint)
    src = Tokenizer.from_file(Path(directory) / src_name)
    tgt = src if joint else Tokenizer.from_file(Path(directory) / tgt_name)
    return src, tgt
