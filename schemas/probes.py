"""Contracts of the aligned probes (one language) and the published dataset row (all languages)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from pipeline.params import registry
from schemas.checks import clean_label, in_script, one_mask
from schemas.templates import SURVEYS

ALIGN_METHODS = ("source", "override", "contrastive", "exact", "normalized", "simalign")
LABEL_HINTS = {
    "one_mask": "the probe must hold exactly one [MASK]; fix the override or the translation",
    "label_high_clean": "label_high must be non-empty and stripped",
    "label_low_clean": "label_low must be non-empty and stripped",
    "labels_distinct": "label_high and label_low must differ; fix the translation so the two fills differ in the label",
    "label_script": "labels must be written in the language's script",
}


class _Labelled(pa.DataFrameModel):
    probe: str
    label_high: str
    label_low: str

    @pa.check("probe", name="one_mask")
    def one_mask(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(one_mask(data.key))

    @pa.check("label_high", name="label_high_clean")
    def label_high_clean(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(clean_label(data.key))

    @pa.check("label_low", name="label_low_clean")
    def label_low_clean(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(clean_label(data.key))

    @pa.dataframe_check(name="labels_distinct")
    def labels_distinct(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("label_high") != pl.col("label_low"))

    @pa.dataframe_check(name="label_script")
    def label_script(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            in_script("label_high", sentence=False) & in_script("label_low", sentence=False)
        )


class AlignedRow(_Labelled):
    """A translated probe with its mask placed, and how it was placed."""

    id: str = pa.Field(unique=True)
    language: str
    align_method: str = pa.Field(isin=ALIGN_METHODS)
    mask_attached: bool  # the mask touches letters of its word (e.g. Turkish "[MASK]dir")

    _hints = LABEL_HINTS

    class Config:
        strict = True


class ProbeRow(_Labelled):
    """One row of the published dataset (columns documented in the dataset card)."""

    id: str
    survey: str = pa.Field(isin=SURVEYS)
    question: str
    category: str
    language: str
    country: str = pa.Field(nullable=True)
    probe_en: str
    label_high_en: str
    label_low_en: str
    scale_min: int
    scale_max: int
    translation_source: str
    align_method: str = pa.Field(isin=ALIGN_METHODS)
    mask_attached: bool

    _hints = {
        **LABEL_HINTS,
        "id_language_unique": "each id appears once per language",
        "same_ids_everywhere": "every language must have the same ids as English; add the missing probes",
        "language_known": "use a language code from probes/languages.yaml",
        "country_matches": "country is the registry's ISO3 code for the language (null for en)",
        "scale_order": "scale_min must be below scale_max",
    }

    @pa.dataframe_check(name="id_language_unique")
    def id_language_unique(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(~pl.struct("id", "language").is_duplicated())

    @pa.dataframe_check(name="same_ids_everywhere")
    def same_ids_everywhere(cls, data: PolarsData) -> pl.LazyFrame:
        n_lang = pl.col("language").n_unique()
        return data.lazyframe.select(pl.col("language").count().over("id") == n_lang)

    @pa.dataframe_check(name="language_known")
    def language_known(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("language").is_in(list(registry())))

    @pa.dataframe_check(name="country_matches")
    def country_matches(cls, data: PolarsData) -> pl.LazyFrame:
        expected = pl.col("language").replace_strict(
            {k: v["iso3"] for k, v in registry().items()}, default=None, return_dtype=pl.String
        )
        return data.lazyframe.select(pl.col("country").eq_missing(expected))

    @pa.dataframe_check(name="scale_order")
    def scale_order(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("scale_min") < pl.col("scale_max"))

    class Config:
        strict = True
