"""What the evaluate stage relies on in a score file (the score stage's contract may carry more columns)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from schemas.templates import SURVEYS


class ScoreInput(pa.DataFrameModel):
    """One probe's scores from one model: the columns evaluate reads."""

    id: str
    language: str
    survey: str = pa.Field(isin=SURVEYS)
    question: str
    score: float = pa.Field(nullable=True)  # lp_high - lp_low; null where the model could not score the probe
    high_only: float = pa.Field(nullable=True)  # ablation: the high label's score alone
    n_tokens_high: int = pa.Field(ge=1)
    n_tokens_low: int = pa.Field(ge=1)
    unk_high: bool
    unk_low: bool
    labels_collide: bool

    _hints = {
        "one_row_per_probe": "each (id, language) must be scored once; re-run the score stage",
        "isin": "survey must be hofstede or wvs",
        "greater_than_or_equal_to": "a label has at least one token",
    }

    @pa.dataframe_check(name="one_row_per_probe")
    def one_row_per_probe(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(~pl.struct("id", "language").is_duplicated())

    class Config:
        strict = False  # lp_high, lp_low and any diagnostics the score stage adds pass through
        coerce = True  # float32 scores or int32 token counts are fine
