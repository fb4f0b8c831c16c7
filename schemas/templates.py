"""Contract of the English probe table built from probes/templates/*.yaml."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from schemas.checks import clean_label, one_mask

SURVEYS = ("hofstede", "wvs")
HOFSTEDE_DIMENSIONS = ("pdi", "idv", "mas", "uai", "lto", "ivr")
WVS_CATEGORIES = (
    "social_values", "happiness", "social_capital", "economic", "corruption", "migration", "security",
    "postmaterialist", "science_technology", "religious", "ethical", "political_interest", "political_culture",
)


class TemplateRow(pa.DataFrameModel):
    """One English cloze probe."""

    id: str = pa.Field(unique=True, str_matches=r"^(hofstede|wvs)_[A-Za-z0-9_]+$")
    survey: str = pa.Field(isin=SURVEYS)
    question: str = pa.Field(str_length={"min_value": 1})
    category: str
    probe: str
    label_high: str
    label_low: str
    scale_min: int
    scale_max: int

    _hints = {
        "one_mask": "write exactly one [MASK] in the probe",
        "label_high_clean": "give a non-empty label without surrounding spaces",
        "label_low_clean": "give a non-empty label without surrounding spaces",
        "labels_distinct": "label_high and label_low must be different words",
        "scale_order": "scale_min must be below scale_max",
        "category_known": f"use a Hofstede dimension {HOFSTEDE_DIMENSIONS} or a WVS category {WVS_CATEGORIES}",
        "field_uniqueness": "give every item its own id",
    }

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

    @pa.dataframe_check(name="scale_order")
    def scale_order(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("scale_min") < pl.col("scale_max"))

    @pa.dataframe_check(name="category_known")
    def category_known(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.when(pl.col("survey") == "hofstede")
            .then(pl.col("category").is_in(HOFSTEDE_DIMENSIONS))
            .otherwise(pl.col("category").is_in(WVS_CATEGORIES))
        )

    class Config:
        strict = True
        coerce = False


class ExcludedRow(pa.DataFrameModel):
    """A survey item that cannot be a two-label cloze, with the reason."""

    survey: str = pa.Field(isin=SURVEYS)
    question: str = pa.Field(unique=True)
    reason: str = pa.Field(str_length={"min_value": 3})

    class Config:
        strict = True
