"""Text normalisation applied identically when preparing data and when translating."""

from __future__ import annotations

import re
import unicodedata

# Invisible or exotic spaces seen in real corpora (French typography puts U+202F / U+00A0
# before ! ? : ; and inside « »). They all become a plain space; zero-width ones vanish.
_SPACES = re.compile(r"[\u00A0\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\t]")
_ZERO_WIDTH = re.compile(r"[\u200B\u200C\u200D\u2060\uFEFF\u00AD]")
_CONTROL = re.compile(r"[\u0000-\u0008\u000B-\u001F\u007F-\u009F]")
_MULTI_SPACE = re.compile(r" {2,}")


def normalize_text(text: str, form: str = "nfkc", lowercase: bool = False) -> str:
    """Unicode-normalise, unify spaces, drop control and zero-width characters, trim.

    `form` is "nfkc", "nfc" or "none". NFKC already maps U+00A0 and U+202F to a space; the
    explicit replacement makes "nfc" and "none" handle French no-break spaces the same way.
    """
    if form != "none":
        text = unicodedata.normalize(form.upper(), text)
    text = _ZERO_WIDTH.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _CONTROL.sub(" ", text)
    text = _MULTI_SPACE.sub(" ", text).strip()
    return text.lower() if lowercase else text
