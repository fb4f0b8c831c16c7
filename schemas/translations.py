"""Contracts of the translation memory (probes/translations/<lang>.tsv) and the translated fills."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from schemas.checks import clean_label, in_script, nfc

PROVENANCE_PATTERN = r"^(curated|(hf|google):\S+.*)$"


class MemoryRow(pa.DataFrameModel):
    """One sentence of a translation memory: English source, translation, where it came from."""

    line: int  # line number in the TSV, for error messages
    language: str
    source: str = pa.Field(unique=True)
    target: str
    provenance: str = pa.Field(str_matches=PROVENANCE_PATTERN)

    _hints = {
        "field_uniqueness": "keep one translation per English source; delete the duplicate line",
        "target_clean": "write a non-empty translation without surrounding spaces or tabs",
        "target_nfc": "store the text in Unicode NFC (composed diacritics)",
        "in_script": "write the translation in the language's own script and orthography",
        "str_matches": "provenance is `curated`, or `hf:<model>@<revision> <date>` / `google:<api> <date>`",
    }

    @pa.check("target", name="target_clean")
    def target_clean(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(clean_label(data.key) & ~pl.col(data.key).str.contains("\t", literal=True))

    @pa.check("target", name="target_nfc")
    def target_nfc(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(nfc(data.key))

    @pa.dataframe_check(name="in_script")
    def in_script(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(in_script("target", sentence=False) | pl.col("source").str.contains(" "))

    @pa.dataframe_check(name="sentence_in_script")
    def sentence_in_script(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(in_script("target", sentence=True))

    class Config:
        strict = True


class TranslatedRow(pa.DataFrameModel):
    """A probe's two fills and two labels, translated, with their English sources."""

    id: str = pa.Field(unique=True)
    language: str
    source_high: str
    source_low: str
    text_high: str
    text_low: str
    label_high_alone: str
    label_low_alone: str
    translation_source: str

    _hints = {
        "not_untranslated": "translate the sentence; it is identical to its English source",
        "fills_differ": "the high- and low-filled translations must differ (the label changes the sentence)",
    }

    @pa.dataframe_check(name="not_untranslated")
    def not_untranslated(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("language") == "en")
            | ((pl.col("text_high") != pl.col("source_high")) & (pl.col("text_low") != pl.col("source_low")))
        )

    @pa.dataframe_check(name="fills_differ")
    def fills_differ(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("text_high") != pl.col("text_low"))

    class Config:
        strict = True
