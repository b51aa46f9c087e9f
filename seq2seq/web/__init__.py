"""The translation page of `s2s serve` (GET /): type French, read the translation and the attention.

    page.html     one HTML file with plain JavaScript (no build step, nothing fetched from
                  elsewhere: it works offline); it calls POST /translate with "attention": true
    attention.py  the attention of a translation as JSON, and why a model may give none
"""

from __future__ import annotations

from importlib.resources import files

__all__ = ["page_html"]


def page_html() -> str:
    """The page's HTML (read once per request: it is small, and a development edit shows at once)."""
    return files(__package__).joinpath("page.html").read_text(encoding="utf-8")
