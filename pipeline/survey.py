"""Stage `survey`: validated Hofstede 6-D scores and WVS-7 country means (committed, or rebuilt from microdata)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from pipeline.common import ROOT, PipelineError, cli, read_parquet, rel, validate, write_parquet
from pipeline.params import registry, section
from pipeline.templates import OUT_DIR as TEMPLATES_DIR
from schemas.surveys import HofstedeScoreRow, WvsMeanRow
from schemas.templates import HOFSTEDE_DIMENSIONS

DATA_DIR = ROOT / "data" / "surveys"
HOFSTEDE_FILE = DATA_DIR / "hofstede_6d.csv"
WVS_FILE = DATA_DIR / "wvs7_country_means.csv"
OUT_DIR = ROOT / "build" / "survey"
COUNTRY_ALPHA, COUNTRY_NUM = "B_COUNTRY_ALPHA", "B_COUNTRY"
WVS_CITATION = "Haerpfer et al. (2022), World Values Survey Round Seven"
HOFSTEDE_DTYPES = {"iso3": pl.String, "country": pl.String, **{d: pl.Int64 for d in HOFSTEDE_DIMENSIONS},
                   "source": pl.String, "citation": pl.String}
WVS_DTYPES = {"iso3": pl.String, "country": pl.String, "question": pl.String, "mean": pl.Float64, "n": pl.Int64,
              "scale_min": pl.Int64, "scale_max": pl.Int64, "source": pl.String, "provenance": pl.String,
              "method": pl.String, "citation": pl.String}


def read_table(path: Path, dtypes: dict[str, pl.DataType]) -> pl.DataFrame:
    """A committed CSV with the expected dtypes; a missing column or unparsable cell is a clear error."""
    if not path.exists():
        raise PipelineError(f"{rel(path)}: not found; it is committed with the project (see data/surveys/README.md)")
    try:
        header = pl.read_csv(path, n_rows=0).columns
    except pl.exceptions.PolarsError as err:
        raise PipelineError(f"{rel(path)}: not a readable CSV file ({err})") from None
    missing = [c for c in dtypes if c not in header]
    extra = [c for c in header if c not in dtypes]
    if missing or extra:
        raise PipelineError(f"{rel(path)}: columns must be {', '.join(dtypes)}"
                            + (f"; missing {', '.join(missing)}" if missing else "")
                            + (f"; unknown {', '.join(extra)}" if extra else ""))
    try:
        return pl.read_csv(path, schema_overrides=dtypes).select(list(dtypes))
    except pl.exceptions.PolarsError as err:
        raise PipelineError(f"{rel(path)}: a cell does not parse as its column's type ({err}). Fix that cell.") from None


def check_countries(df: pl.DataFrame, path: Path) -> None:
    """Every row's ISO3 is a country of the language registry, under the registry's name."""
    names = {e["iso3"]: e["country"] for e in registry().values() if e.get("iso3")}
    bad = [f"row {i + 1}: {iso3} ({name})" for i, (iso3, name) in enumerate(df.select("iso3", "country").iter_rows())
           if names.get(iso3) != name]
    if bad:
        raise PipelineError(f"{rel(path)}: {len(bad)} row(s) name a country the registry does not know under that "
                            f"ISO3 code: {'; '.join(bad[:10])}. Known: "
                            f"{', '.join(f'{k} {v}' for k, v in sorted(names.items()))} (probes/languages.yaml)")


def load_hofstede(path: Path = HOFSTEDE_FILE) -> pl.DataFrame:
    """The published 6-D scores, validated."""
    df = validate(read_table(path, HOFSTEDE_DTYPES), HofstedeScoreRow, rel(path), key="iso3")
    check_countries(df, path)
    return df.sort("iso3")


def load_wvs(path: Path = WVS_FILE) -> pl.DataFrame:
    """The committed WVS-7 country means, validated."""
    df = validate(read_table(path, WVS_DTYPES), WvsMeanRow, rel(path), key="question")
    check_countries(df, path)
    return df


def wvs_items(templates: pl.DataFrame, source: str) -> pl.DataFrame:
    """The probed WVS items with their answer scale (question, scale_min, scale_max), one row each."""
    items = templates.filter(pl.col("survey") == "wvs").select("question", "scale_min", "scale_max").unique()
    dup = items.filter(pl.col("question").is_duplicated())["question"].unique().sort().to_list()
    if dup:
        raise PipelineError(f"{source}: item(s) {', '.join(dup)} have probes with different scales; give each "
                            "item one scale_min/scale_max in probes/templates/wvs.yaml")
    return items.with_columns(pl.col("question").str.slice(1).cast(pl.Int64).alias("_n")).sort("_n").drop("_n")


def check_top_codes(means: pl.DataFrame, items: pl.DataFrame, source: str) -> None:
    """A survey mean's top code must be the probe's scale_max: label_high names that answer."""
    j = means.join(items, on="question", suffix="_probe")
    bad = j.filter(pl.col("scale_max") != pl.col("scale_max_probe")).select("question", "iso3", "scale_max", "scale_max_probe")
    if bad.height:
        rows = "; ".join(f"{q} {c}: survey top code {a}, probe scale_max {b}" for q, c, a, b in bad.head(10).iter_rows())
        raise PipelineError(f"{source}: {bad.height} mean(s) are on a scale whose top code is not the probe's "
                            f"scale_max, so label_high would name a different answer: {rows}. Recompute those means "
                            "on the probe's scale or drop them.")


def microdata_columns(path: Path) -> list[str]:
    """Column names of a microdata file (csv, parquet or Stata dta)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pl.read_csv(path, n_rows=0, infer_schema=False).columns
    if suffix == ".parquet":
        return list(pl.read_parquet_schema(path))
    if suffix == ".dta":
        import pandas as pd

        with pd.read_stata(path, iterator=True) as reader:
            return list(reader.varlist)
    raise PipelineError(f"{path}: unsupported microdata format {suffix!r}; use the WVS-7 csv, a parquet "
                        "conversion of it, or the Stata .dta file")


def read_microdata(path: Path, columns: list[str]) -> pl.DataFrame:
    """Only the needed columns of the microdata file."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            text = [c for c in columns if c == COUNTRY_ALPHA]
            return pl.read_csv(path, columns=columns, infer_schema_length=None,
                               schema_overrides={c: pl.String for c in text})
        if suffix == ".parquet":
            return pl.read_parquet(path, columns=columns)
        import pandas as pd

        return pl.from_pandas(pd.read_stata(path, columns=columns, convert_categoricals=False))
    except Exception as err:  # readers raise many types for corrupt files
        raise PipelineError(f"{path}: cannot read the microdata ({type(err).__name__}: {err})") from None


def required_columns(available: list[str], items: pl.DataFrame, weights: str | None, path: Path) -> list[str]:
    """Country, weight and item columns to read; any missing one is an error naming them all."""
    country = COUNTRY_ALPHA if COUNTRY_ALPHA in available else COUNTRY_NUM
    needed = [country] + ([weights] if weights else []) + items["question"].to_list()
    missing = [c for c in needed if c not in available]
    if missing:
        hint = f"{COUNTRY_ALPHA} or {COUNTRY_NUM}" if country in missing else ""
        raise PipelineError(
            f"{path}: microdata lacks required column(s): {', '.join(missing)}"
            + (f" (a country column: {hint})" if hint else "")
            + (". Set `survey.weights: null` in params.yaml for unweighted means" if weights in missing else "")
            + ". Use the official WVS-7 cross-national file, which has all of them.")
    return needed


def country_iso3(micro: pl.DataFrame) -> pl.Expr:
    """ISO3 per respondent: B_COUNTRY_ALPHA, or B_COUNTRY mapped through the registry's WVS codes."""
    if COUNTRY_ALPHA in micro.columns:
        return pl.col(COUNTRY_ALPHA).cast(pl.String).str.strip_chars()
    codes = {int(e["wvs_code"]): e["iso3"] for e in registry().values() if e.get("wvs_code") is not None}
    return pl.col(COUNTRY_NUM).cast(pl.Int64, strict=False).replace_strict(codes, default=None, return_dtype=pl.String)


def microdata_means(micro: pl.DataFrame, items: pl.DataFrame, weights: str | None, provenance: str) -> pl.DataFrame:
    """Country means per item: negative missing codes and codes outside the item's scale dropped, optional weights."""
    names = {e["iso3"]: e["country"] for e in registry().values() if e.get("iso3")}
    w = pl.col(weights).cast(pl.Float64, strict=False) if weights else pl.lit(1.0)
    aggs = []
    for q, lo, hi in items.iter_rows():
        code = pl.col(q).cast(pl.Float64, strict=False)
        # Negative codes (-1 don't know ... -5 missing) fall outside every scale; codes above scale_max
        # ("not allowed to vote", spontaneous answers) are not points of the ordered scale.
        valid = code.is_between(lo, hi) & (code >= 0) & w.is_not_null() & (w > 0)
        aggs += [(code * w).filter(valid).sum().alias(f"{q}|sx"), w.filter(valid).sum().alias(f"{q}|sw"),
                 valid.sum().cast(pl.Int64).alias(f"{q}|n")]
    per_country = (micro.with_columns(country_iso3(micro).alias("_iso3"))
                   .filter(pl.col("_iso3").is_in(list(names)))
                   .group_by("_iso3").agg(aggs))
    long = (per_country.unpivot(index="_iso3")
            .with_columns(pl.col("variable").str.split_exact("|", 1).struct.rename_fields(["question", "part"]))
            .unnest("variable")
            .pivot("part", index=["_iso3", "question"], values="value"))
    method = (f"weighted by {weights}" if weights else "unweighted") + \
        "; negative missing codes and codes outside [scale_min, scale_max] dropped"
    out = (long.filter(pl.col("n") > 0)
           .join(items, on="question")
           .select(pl.col("_iso3").alias("iso3"),
                   pl.col("_iso3").replace_strict(names, return_dtype=pl.String).alias("country"),
                   "question",
                   (pl.col("sx") / pl.col("sw")).round(6).alias("mean"),
                   pl.col("n").cast(pl.Int64),
                   "scale_min", "scale_max",
                   pl.lit("wvs7_microdata").alias("source"),
                   pl.lit(provenance).alias("provenance"),
                   pl.lit(method).alias("method"),
                   pl.lit(WVS_CITATION).alias("citation"))
           .with_columns(pl.col("question").str.slice(1).cast(pl.Int64).alias("_n"))
           .sort("iso3", "_n").drop("_n"))
    return out


def sha256(path: Path) -> str:
    """Hex digest of a file, read in chunks (the microdata file is hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def wvs_from_microdata(path: Path, items: pl.DataFrame, weights: str | None) -> pl.DataFrame:
    """The WVS-7 means table rebuilt from the official microdata file."""
    if not path.exists():
        raise PipelineError(f"params.yaml `survey.microdata`: {path} not found. Download the WVS-7 file from "
                            "worldvaluessurvey.org, or set `survey.microdata: null` to use the committed means.")
    columns = required_columns(microdata_columns(path), items, weights, path)
    micro = read_microdata(path, columns)
    means = microdata_means(micro, items, weights, f"{path.name} sha256:{sha256(path)[:16]}")
    if means.is_empty():
        raise PipelineError(f"{path}: no respondents from the registry's countries with a valid answer; "
                            f"check the country column ({COUNTRY_ALPHA}/{COUNTRY_NUM})")
    return validate(means, WvsMeanRow, path, key="question")


@cli
def main() -> None:
    params = section("survey")
    templates = read_parquet(TEMPLATES_DIR / "probes.parquet")
    items = wvs_items(templates, rel(TEMPLATES_DIR / "probes.parquet"))
    hofstede = load_hofstede()
    microdata = params.get("microdata")
    if microdata:
        path = Path(microdata) if Path(microdata).is_absolute() else ROOT / microdata
        wvs, where = wvs_from_microdata(path, items, params.get("weights") or None), str(path)
    else:
        wvs, where = load_wvs(), rel(WVS_FILE)
    check_top_codes(wvs, items, where)
    write_parquet(hofstede, OUT_DIR / "hofstede.parquet")
    write_parquet(wvs, OUT_DIR / "wvs_means.parquet")
    print(f"survey: Hofstede 6-D for {hofstede.height} countries; WVS-7 means from {where}: "
          f"{wvs.height} country x item figures, {wvs['question'].n_unique()} items, {wvs['iso3'].n_unique()} countries")


if __name__ == "__main__":
    main()
