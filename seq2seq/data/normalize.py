"""Text normalisation applied identically when preparing data and when translating."""

from __future__ import annotations

import re
import unicodedata

from seq2seq.errors import UserError

# Invisible or exotic spaces seen in real corpora (French typography puts U+202F / U+00A0
# before ! ? : ; and inside « »). They all become a plain space; zero-width ones vanish.
_SPACES = re.compile(r"[\u00A0\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\t]")
_ZERO_WIDTH = re.compile(r"[\u200B\u200C\u200D\u2060\uFEFF\u00AD]")
_CONTROL = re.compile(r"[\u0000-\u0008\u000B-\u001F\u007F-\u009F]")
_MULTI_SPACE = re.compile(r" {2,}")

# Words that lose their vowel before a vowel and join the next word with an apostrophe:
# "l'Afrique", "qu'il", "dell'Italia". SentencePiece marks only the first piece of a
# space-separated word as word-initial, so "l'Afrique" is cut into "▁l ' A f rique", pieces
# "Afrique" alone ("▁Af rique") and the English "▁Af ric a" never use; a space after the
# apostrophe gives the word its own pieces (data.split_elision). Not "aujourd'hui": the "d" is
# inside a word there.
ELISIONS: dict[str, tuple[str, ...]] = {
    "fr": ("c", "d", "j", "l", "m", "n", "s", "t", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu", "presqu"),
    "it": ("c", "d", "l", "m", "n", "s", "t", "v", "un", "all", "dall", "dell", "nell", "sull", "coll", "quest",
           "quell", "bell", "sant", "buon", "tutt", "dov", "com", "cos"),
}
_ELISION_PATTERNS = {lang: re.compile(rf"(?<![\w'’-])((?:{'|'.join(words)})['’])(?=[^\W\d_])", re.IGNORECASE)
                     for lang, words in ELISIONS.items()}


def normalize_text(text: str, form: str = "nfkc", lowercase: bool = False, elision: str | None = None) -> str:
    """Unicode-normalise, unify spaces, drop control and zero-width characters, trim; with
    `elision` (a language of ELISIONS), put a space after that language's elided words.

    `form` is "nfkc", "nfc" or "none". NFKC already maps U+00A0 and U+202F to a space; the
    explicit replacement makes "nfc" and "none" handle French no-break spaces the same way.
    Normalising twice gives the same text as once (a translator re-normalises prepared text).
    """
    if form != "none":
        text = unicodedata.normalize(form.upper(), text)
    text = _ZERO_WIDTH.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _CONTROL.sub(" ", text)
    text = _MULTI_SPACE.sub(" ", text).strip()
    if elision:
        text = split_elisions(text, elision)
    return text.lower() if lowercase else text


def split_elisions(text: str, lang: str) -> str:
    """"l'Afrique" -> "l' Afrique" for each elided word of language `lang` (see ELISIONS)."""
    return _ELISION_PATTERNS[lang].sub(r"\1 ", text)


def elision_language(split: bool, lang: str, key: str = "data.split_elision") -> str | None:
    """The language whose elisions are split (data.split_elision on and `lang` has rules), else None."""
    if not split:
        return None
    if lang not in ELISIONS:
        raise UserError(f"{key}: no elision rules for the source language {lang!r} (there are for "
                        f"{', '.join(sorted(ELISIONS))}); set it to false")
    return lang
