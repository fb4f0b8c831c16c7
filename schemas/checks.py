"""Polars expressions shared by the schemas: mask count, label hygiene, script QA."""

from __future__ import annotations

import polars as pl

from pipeline.common import MASK
from pipeline.params import registry

# ISO 15924 code -> Unicode script name as the regex engine knows it.
SCRIPT_NAMES = {"Latn": "Latin", "Grek": "Greek", "Arab": "Arabic", "Beng": "Bengali", "Cyrl": "Cyrillic", "Hang": "Hangul"}
# Share of a sentence's letters that must be in the language's own script. Acronyms in Latin
# letters (NATO, IMF) are legitimate in a Greek or Korean sentence; a mostly-Latin one is not.
MIN_SCRIPT_SHARE = 0.5


def one_mask(col: str) -> pl.Expr:
    """True where the text holds exactly one [MASK]."""
    return pl.col(col).str.count_matches(MASK, literal=True) == 1


def clean_label(col: str) -> pl.Expr:
    """True where a label is non-empty, has no outer whitespace and holds no [MASK]."""
    c = pl.col(col)
    return (c.str.len_chars() > 0) & (c == c.str.strip_chars()) & ~c.str.contains(MASK, literal=True)


def nfc(col: str) -> pl.Expr:
    """True where the text is in Unicode NFC (decomposed diacritics break exact matching)."""
    return pl.col(col) == pl.col(col).str.normalize("NFC")


def bad_letters_pattern(lang: str) -> str:
    """Regex of letters that must not occur in text of `lang`."""
    entry = registry()[lang]
    script = entry["script"]
    if script == "Latn":
        extra = entry.get("letters") or ""
        return f"[\\p{{L}}--[A-Za-z{extra}]]"
    # Any letter that is neither the script's own nor a plain ASCII Latin letter (acronyms).
    return f"[\\p{{L}}--[\\p{{{SCRIPT_NAMES[script]}}}A-Za-z]]"


def in_script(col: str, lang_col: str = "language", *, sentence: bool = True) -> pl.Expr:
    """True where the text uses only its language's script (and, for sentences, mostly that script)."""
    ok = pl.lit(True)
    for lang, entry in registry().items():
        script = entry["script"]
        text = pl.col(col)
        good = ~text.str.contains(bad_letters_pattern(lang))
        if script != "Latn":
            own = text.str.count_matches(f"\\p{{{SCRIPT_NAMES[script]}}}")
            letters = text.str.count_matches("\\p{L}")
            share = own >= (letters * (MIN_SCRIPT_SHARE if sentence else 1.0))
            good = good & share
        ok = pl.when(pl.col(lang_col) == lang).then(good).otherwise(ok)
    return ok
