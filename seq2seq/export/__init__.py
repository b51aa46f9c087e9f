"""Exporting trained models to inference engines (CTranslate2: `s2s export --format ctranslate2`)."""
