"""Contracts of the survey reference tables: Hofstede 6-D country scores and WVS-7 country means."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

ISO3 = r"^[A-Z]{3}$"
# Published 6-D scores are not capped at 100 (Greece uai 112, Malaysia pdi 104 in the 2015 file).
MAX_PUBLISHED = 150


class HofstedeScoreRow(pa.DataFrameModel):
    """One country's published Hofstede 6-D scores (columns = schemas.templates.HOFSTEDE_DIMENSIONS)."""

    iso3: str = pa.Field(unique=True, str_matches=ISO3)
    country: str = pa.Field(str_length={"min_value": 1})
    pdi: int = pa.Field(ge=0, le=MAX_PUBLISHED)
    idv: int = pa.Field(ge=0, le=MAX_PUBLISHED)
    mas: int = pa.Field(ge=0, le=MAX_PUBLISHED)
    uai: int = pa.Field(ge=0, le=MAX_PUBLISHED)
    lto: int = pa.Field(ge=0, le=MAX_PUBLISHED)
    ivr: int = pa.Field(ge=0, le=MAX_PUBLISHED)
    source: str = pa.Field(str_length={"min_value": 3})
    citation: str = pa.Field(str_length={"min_value": 3})

    _hints = {
        "field_uniqueness": "give each country one row",
        "str_matches": "use the ISO 3166-1 alpha-3 code (e.g. DEU)",
        "greater_than_or_equal_to": "published 6-D scores are non-negative",
        "less_than_or_equal_to": f"published 6-D scores lie in 0-{MAX_PUBLISHED}; check the figure",
        "str_length": "fill in the country, source and citation",
    }

    class Config:
        strict = True
        coerce = False


class WvsMeanRow(pa.DataFrameModel):
    """One country's mean answer code on one WVS-7 item, on the scale it was computed over."""

    iso3: str = pa.Field(str_matches=ISO3)
    country: str = pa.Field(str_length={"min_value": 1})
    question: str = pa.Field(str_matches=r"^Q[0-9]+$")
    mean: float
    n: int = pa.Field(nullable=True, ge=1)  # respondents with a valid answer; null where the source does not say
    scale_min: int
    scale_max: int
    source: str = pa.Field(str_length={"min_value": 1})
    provenance: str = pa.Field(str_length={"min_value": 1})
    method: str = pa.Field(str_length={"min_value": 1})
    citation: str = pa.Field(str_length={"min_value": 3})

    _hints = {
        "str_matches": "use ISO3 country codes and WVS item ids like Q57",
        "scale_order": "scale_min must be below scale_max",
        "mean_in_scale": "a mean answer code lies between scale_min and scale_max; check the figure and its scale",
        "one_row_per_cell": "keep one figure per country and item (the preferred one)",
        "greater_than_or_equal_to": "n counts respondents; leave it empty when unknown",
        "str_length": "fill in country, source, provenance, method and citation",
    }

    @pa.dataframe_check(name="scale_order")
    def scale_order(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("scale_min") < pl.col("scale_max"))

    @pa.dataframe_check(name="mean_in_scale")
    def mean_in_scale(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("mean").is_between(pl.col("scale_min"), pl.col("scale_max")).fill_null(False))

    @pa.dataframe_check(name="one_row_per_cell")
    def one_row_per_cell(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(~pl.struct("iso3", "question").is_duplicated())

    class Config:
        strict = True
        coerce = False
