"""Contract of one model's probe scores (build/scores/<key>.parquet)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from schemas.templates import SURVEYS

FLAG_COLUMNS = ("unk_high", "unk_low", "labels_collide", "straddle_high", "straddle_low")
# score is computed as lp_high - lp_low in float64; allow only rounding noise.
SCORE_ATOL = 1e-9


class ScoreRow(pa.DataFrameModel):
    """A probe's label log-probabilities under one masked LM, with tokenizer diagnostics."""

    id: str
    language: str
    survey: str = pa.Field(isin=SURVEYS)
    question: str
    lp_high: float = pa.Field(le=0.0)  # log P(label_high | probe), per multi_token
    lp_low: float = pa.Field(le=0.0)
    score: float  # lp_high - lp_low
    high_only: float  # lp_high alone (the paper's high-only ablation)
    n_tokens_high: int = pa.Field(ge=1)  # tokens of label_high in its filled probe
    n_tokens_low: int = pa.Field(ge=1)
    unk_high: bool  # a label_high token is the unknown token
    unk_low: bool
    labels_collide: bool  # both labels become the same token sequence (e.g. uncased mBERT strips diacritics)
    straddle_high: bool  # a label_high token also spells letters outside the label (e.g. a Turkish suffix)
    straddle_low: bool

    _hints = {
        "id_language_unique": "each probe id appears once per language; the dataset has duplicates",
        "score_is_difference": "score must equal lp_high - lp_low",
        "high_only_is_lp_high": "high_only must equal lp_high",
        "finite": "log-probabilities must be finite; the model produced NaN or inf",
    }

    @pa.dataframe_check(name="id_language_unique")
    def id_language_unique(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(~pl.struct("id", "language").is_duplicated())

    @pa.dataframe_check(name="finite")
    def finite(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("lp_high").is_finite() & pl.col("lp_low").is_finite())

    @pa.dataframe_check(name="score_is_difference")
    def score_is_difference(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("score") - (pl.col("lp_high") - pl.col("lp_low"))).abs() <= SCORE_ATOL)

    @pa.dataframe_check(name="high_only_is_lp_high")
    def high_only_is_lp_high(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("high_only") == pl.col("lp_high"))

    class Config:
        strict = True
        coerce = False
