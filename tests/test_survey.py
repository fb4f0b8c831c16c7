"""Survey reference tables: committed figures, schema failures, WVS-7 means rebuilt from synthetic microdata."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import pipeline.survey as survey
from pipeline.common import PipelineError
from pipeline.params import registry
from pipeline.survey import (HOFSTEDE_DTYPES, WVS_DTYPES, check_top_codes, load_hofstede, load_wvs, microdata_means,
                             wvs_from_microdata)

REGISTRY_ISO3 = sorted(e["iso3"] for e in registry().values() if e.get("iso3"))
ITEMS = pl.DataFrame({"question": ["Q1", "Q57", "Q221"], "scale_min": [1, 1, 1], "scale_max": [4, 2, 3]})


def write_csv(df: pl.DataFrame, path: Path) -> Path:
    df.write_csv(path)
    return path


# ---------------------------------------------------------------- committed tables

def test_hofstede_table_has_the_2015_figures_for_every_registry_country():
    h = load_hofstede()
    assert h["iso3"].to_list() == REGISTRY_ISO3
    row = {r["iso3"]: r for r in h.iter_rows(named=True)}
    # The 2015 file is authoritative where circulating copies disagree (capped or older values).
    assert row["GRC"]["uai"] == 112
    assert row["MYS"]["pdi"] == 104 and row["MYS"]["ivr"] == 57
    assert row["KOR"]["lto"] == 100  # lto is the published ltowvs column
    assert row["DEU"]["idv"] == 67
    assert h["source"].str.contains("2015-08-16").all()
    assert h["citation"].str.contains("Hofstede").all()


def test_wvs_table_one_figure_per_cell_with_provenance_and_known_coverage():
    w = load_wvs()
    assert sorted(w["iso3"].unique()) == REGISTRY_ISO3
    assert not w.select("iso3", "question").is_duplicated().any()
    assert w["provenance"].str.len_chars().min() > 0 and w["citation"].str.contains("Haerpfer").all()
    complete = w.group_by("question").agg(pl.col("iso3").n_unique().alias("k")).filter(pl.col("k") == 13)
    assert complete.height == 46
    # Means whose source folded a non-answer code into the scale are left out.
    assert w.filter(pl.col("question").is_in(["Q119", "Q221"])).is_empty()
    assert w.filter((pl.col("mean") < pl.col("scale_min")) | (pl.col("mean") > pl.col("scale_max"))).is_empty()


def test_wvs_row_failing_its_schema_names_the_file_row_and_check(tmp_path):
    w = load_wvs().head(3).with_columns(pl.when(pl.int_range(pl.len()) == 1).then(9.5).otherwise(pl.col("mean"))
                                        .alias("mean"))
    path = write_csv(w, tmp_path / "wvs.csv")
    with pytest.raises(PipelineError) as err:
        load_wvs(path)
    msg = str(err.value)
    assert "wvs.csv" in msg and "mean_in_scale" in msg and "row 2" in msg


def test_duplicate_cell_and_unknown_country_are_errors(tmp_path):
    w = load_wvs().head(2)
    with pytest.raises(PipelineError, match="one_row_per_cell"):
        load_wvs(write_csv(pl.concat([w, w.head(1)]), tmp_path / "dup.csv"))
    h = load_hofstede().with_columns(pl.when(pl.col("iso3") == "DEU").then(pl.lit("FRA")).otherwise("iso3").alias("iso3"))
    with pytest.raises(PipelineError, match="FRA"):
        load_hofstede(write_csv(h, tmp_path / "h.csv"))


def test_missing_column_and_bad_cell_are_clear_errors(tmp_path):
    h = load_hofstede()
    with pytest.raises(PipelineError, match="missing ivr"):
        load_hofstede(write_csv(h.drop("ivr"), tmp_path / "a.csv"))
    bad = h.with_columns(pl.col("pdi").cast(pl.String).replace("35", "thirty-five"))
    with pytest.raises(PipelineError, match="does not parse"):
        load_hofstede(write_csv(bad, tmp_path / "b.csv"))
    assert list(HOFSTEDE_DTYPES)[:2] == ["iso3", "country"] and "provenance" in WVS_DTYPES


def test_survey_top_code_must_be_the_probes_scale_max():
    means = pl.DataFrame({"iso3": ["DEU"], "question": ["Q221"], "scale_max": [4]})
    with pytest.raises(PipelineError, match="Q221 DEU: survey top code 4, probe scale_max 3"):
        check_top_codes(means, ITEMS, "wvs.csv")
    check_top_codes(means.with_columns(pl.lit(3).alias("scale_max")), ITEMS, "wvs.csv")


# ---------------------------------------------------------------- microdata

def microdata() -> pl.DataFrame:
    """Six respondents in two countries plus one from a country outside the registry."""
    return pl.DataFrame({
        "B_COUNTRY": [276, 276, 276, 792, 792, 792, 250],
        "B_COUNTRY_ALPHA": ["DEU", "DEU", "DEU", "TUR", "TUR", "TUR", "FRA"],
        "W_WEIGHT": [1.0, 3.0, 1.0, 1.0, 1.0, 2.0, 1.0],
        # -1 don't know, -2 no answer: dropped; 4 out of Q221's 1-3 scale (not allowed to vote): dropped
        "Q1": [1, 4, -1, 2, 2, -2, 1],
        "Q57": [1, 2, 2, -5, -4, -3, 1],
        "Q221": [1, 3, 4, 2, 4, 1, 1],
        "Q999": [5, 5, 5, 5, 5, 5, 5],  # an item nobody probes: ignored
    })


def as_dict(df: pl.DataFrame) -> dict[tuple[str, str], tuple[float, int]]:
    return {(r["iso3"], r["question"]): (r["mean"], r["n"]) for r in df.iter_rows(named=True)}


def test_microdata_means_weighted_with_missing_and_out_of_scale_codes_dropped():
    got = as_dict(microdata_means(microdata(), ITEMS, "W_WEIGHT", "synthetic"))
    assert got[("DEU", "Q1")] == pytest.approx(((1 * 1 + 4 * 3) / 4, 2))
    assert got[("DEU", "Q57")] == pytest.approx(((1 * 1 + 2 * 3 + 2 * 1) / 5, 3))
    assert got[("DEU", "Q221")] == pytest.approx(((1 * 1 + 3 * 3) / 4, 2))
    assert got[("TUR", "Q1")] == pytest.approx((2.0, 2))
    assert got[("TUR", "Q221")] == pytest.approx(((2 * 1 + 1 * 2) / 3, 2))
    assert ("TUR", "Q57") not in got  # every answer was a missing code: no figure, not a zero
    assert not any(iso == "FRA" for iso, _ in got)  # only the registry's countries


def test_microdata_unweighted_and_numeric_country_codes():
    micro = microdata().drop("B_COUNTRY_ALPHA", "W_WEIGHT")
    got = as_dict(microdata_means(micro, ITEMS, None, "synthetic"))
    assert got[("DEU", "Q1")] == pytest.approx((2.5, 2))
    assert got[("DEU", "Q57")] == pytest.approx((5 / 3, 3))
    assert got[("TUR", "Q221")] == pytest.approx((1.5, 2))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_microdata_file_rebuilds_a_valid_table(tmp_path, fmt):
    path = tmp_path / f"wvs7.{fmt}"
    getattr(microdata(), f"write_{fmt}")(path)
    df = wvs_from_microdata(path, ITEMS, "W_WEIGHT")
    assert set(df["source"]) == {"wvs7_microdata"}
    assert df["provenance"][0].startswith(f"wvs7.{fmt} sha256:")
    assert df["method"][0].startswith("weighted by W_WEIGHT")
    assert df.height == 5 and df["n"].min() >= 1
    assert df.sort("iso3", "question")["country"].to_list()[0] == "Germany"


def test_microdata_missing_columns_are_named(tmp_path):
    path = tmp_path / "wvs7.csv"
    microdata().drop("Q57", "W_WEIGHT").write_csv(path)
    with pytest.raises(PipelineError) as err:
        wvs_from_microdata(path, ITEMS, "W_WEIGHT")
    msg = str(err.value)
    assert "wvs7.csv" in msg and "W_WEIGHT" in msg and "Q57" in msg and "survey.weights: null" in msg
    microdata().drop("B_COUNTRY", "B_COUNTRY_ALPHA").write_csv(path)
    with pytest.raises(PipelineError, match="B_COUNTRY_ALPHA or B_COUNTRY"):
        wvs_from_microdata(path, ITEMS, None)
    with pytest.raises(PipelineError, match="not found"):
        wvs_from_microdata(tmp_path / "absent.csv", ITEMS, None)
    (tmp_path / "wvs7.sav").write_bytes(b"x")
    with pytest.raises(PipelineError, match="unsupported microdata format"):
        wvs_from_microdata(tmp_path / "wvs7.sav", ITEMS, None)


def test_stage_main_uses_microdata_when_params_name_it(tmp_path, monkeypatch):
    templates = pl.DataFrame({"survey": ["wvs"] * 3 + ["hofstede"], "question": ["Q1", "Q57", "Q221", "01"],
                              "scale_min": [1, 1, 1, 1], "scale_max": [4, 2, 3, 5]})
    (tmp_path / "templates").mkdir()
    templates.write_parquet(tmp_path / "templates" / "probes.parquet")
    microdata().write_parquet(tmp_path / "wvs7.parquet")
    monkeypatch.setattr(survey, "TEMPLATES_DIR", tmp_path / "templates")
    monkeypatch.setattr(survey, "OUT_DIR", tmp_path / "out")
    monkeypatch.setattr(survey, "section", lambda name: {"microdata": str(tmp_path / "wvs7.parquet"), "weights": None})
    survey.main()
    out = pl.read_parquet(tmp_path / "out" / "wvs_means.parquet")
    assert as_dict(out)[("DEU", "Q1")] == pytest.approx((2.5, 2))
    assert pl.read_parquet(tmp_path / "out" / "hofstede.parquet").height == 13


def test_stage_main_exits_2_on_a_bad_microdata_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "templates").mkdir()
    pl.DataFrame({"survey": ["wvs"], "question": ["Q1"], "scale_min": [1], "scale_max": [4]}).write_parquet(
        tmp_path / "templates" / "probes.parquet")
    microdata().drop("Q1").write_csv(tmp_path / "wvs7.csv")
    monkeypatch.setattr(survey, "TEMPLATES_DIR", tmp_path / "templates")
    monkeypatch.setattr(survey, "OUT_DIR", tmp_path / "out")
    monkeypatch.setattr(survey, "section", lambda name: {"microdata": str(tmp_path / "wvs7.csv"), "weights": "W_WEIGHT"})
    with pytest.raises(SystemExit) as exc:
        survey.main()
    assert exc.value.code == 2
    assert "lacks required column(s): Q1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
