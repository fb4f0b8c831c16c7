"""The evaluation's outputs: tables (CSV, mirroring the paper's Tables 2-9), DVC metrics and the markdown report."""

from __future__ import annotations

from pathlib import Path
from statistics import fmean
from typing import Any

import polars as pl

from pipeline.common import write_csv, write_text
from pipeline.stats import rounded
from schemas.templates import WVS_CATEGORIES

CORR_SCHEMA = {"rho": pl.Float64, "p": pl.Float64, "p_perm": pl.Float64, "p_fdr": pl.Float64,
               "ci_low": pl.Float64, "ci_high": pl.Float64, "n": pl.Int64}
TABLES = {
    "table2_agreement_hofstede": "Table 2: model agreement on Hofstede indices (Spearman between two models across countries)",
    "table3_agreement_wvs": "Table 3: model agreement on WVS category scores (all scored items of the category)",
    "table4_hofstede_dimensions": "Table 4: Hofstede, model vs published score per dimension (across countries)",
    "table5_hofstede_countries": "Table 5: Hofstede, model vs published per country (across the six dimensions)",
    "table6_wvs_categories": "Table 6: WVS, model vs survey per category (across countries)",
    "table7_wvs_countries": "Table 7: WVS, model vs survey per country (across categories with survey figures)",
    "table8_ablation_hofstede": "Table 8: ablation, high-label-only scores, Hofstede per dimension",
    "table9_ablation_wvs": "Table 9: ablation, high-label-only scores, WVS per category",
}


def corr_frame(rows: list[dict[str, Any]], front: dict[str, pl.DataType]) -> pl.DataFrame:
    """Correlation records as a table: identifying columns first, then rho, p, p_perm, p_fdr, CI, n."""
    schema = {**front, **CORR_SCHEMA}
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema, orient="row")


def build_tables(results: dict[str, Any], pairs: dict[tuple[str, str], Any], rq1: dict[str, list],
                 tokens: dict[str, pl.DataFrame], pub: pl.DataFrame, survey: pl.DataFrame,
                 categories: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Every table of the evaluation, keyed by file stem."""
    s, i = pl.String, pl.Int64
    t: dict[str, list] = {k: [] for k in (*TABLES, "wvs_items")}
    for (a, b), r in pairs.items():
        t["table2_agreement_hofstede"] += [{"model_a": a, "model_b": b, **x} for x in r["hofstede"]]
        t["table3_agreement_wvs"] += [{"model_a": a, "model_b": b, **x} for x in r["wvs"]]
    for key, res in results.items():
        main, abl = res["score"], res["high_only"]
        t["table4_hofstede_dimensions"] += [{"model": key, **x} for x in main["hofstede"]]
        t["table5_hofstede_countries"] += [{"model": key, **x} for x in main["hofstede_countries"]]
        t["table6_wvs_categories"] += [{"model": key, **x} for x in main["wvs"]]
        t["table7_wvs_countries"] += [{"model": key, **x} for x in main["wvs_countries"]]
        t["table8_ablation_hofstede"] += [{"model": key, "rho_score": m["rho"], **x}
                                          for m, x in zip(main["hofstede"], abl["hofstede"])]
        t["table9_ablation_wvs"] += [{"model": key, "rho_score": m["rho"], **x} for m, x in zip(main["wvs"], abl["wvs"])]
        t["wvs_items"] += [{"model": key, **x} for x in main["wvs_items"]]
    pair = {"model_a": s, "model_b": s}
    fronts = {
        "table2_agreement_hofstede": {**pair, "dimension": s},
        "table3_agreement_wvs": {**pair, "category": s, "n_items": i},
        "table4_hofstede_dimensions": {"model": s, "dimension": s},
        "table5_hofstede_countries": {"model": s, "country": s},
        "table6_wvs_categories": {"model": s, "category": s, "n_items": i},
        "table7_wvs_countries": {"model": s, "country": s},
        "table8_ablation_hofstede": {"model": s, "dimension": s, "rho_score": pl.Float64},
        "table9_ablation_wvs": {"model": s, "category": s, "n_items": i, "rho_score": pl.Float64},
        "wvs_items": {"model": s, "question": s, "category": s},
    }
    tables = {name: corr_frame(rows, fronts[name]) for name, rows in t.items()}
    tables["rq1_pairs"] = pl.DataFrame(
        [{"model": k, **r} for k, recs in rq1.items() for r in recs],
        schema={"model": s, "survey": s, "country_a": s, "country_b": s, "n": i, "statistic": pl.Float64,
                "p": pl.Float64, "p_fdr": pl.Float64}, orient="row")
    tables["hofstede_indices"] = pl.concat([
        res["score"]["indices"].join(res["high_only"]["indices"], on=["country", "dimension"], suffix="_ho")
        .join(pub, on=["country", "dimension"], how="left")
        .select(pl.lit(key).alias("model"), "country", "dimension", pl.col("value").alias("predicted"),
                pl.col("value_ho").alias("predicted_high_only"), "published")
        for key, res in results.items()])
    tables["wvs_category_scores"] = pl.concat([
        res["score"]["categories"].select(pl.lit(key).alias("model"), "country", "category", "n_items",
                                          pl.col("model").alias("model_score"), pl.col("survey").alias("survey_score"))
        for key, res in results.items()])
    tables["wvs_coverage"] = coverage(next(iter(results.values())), survey, categories)
    tables["tokenizer"] = pl.concat([df.select(pl.lit(k).alias("model"), pl.all()) for k, df in tokens.items()])
    return tables


def coverage(res: dict[str, Any], survey: pl.DataFrame, categories: pl.DataFrame) -> pl.DataFrame:
    """Per WVS category: items scored, items with any survey figure, items compared (figures for every country)."""
    countries, main = res["countries"], res["score"]
    scored = main["items"].select("question").unique().join(categories, on="question")
    any_fig = set(survey.filter(pl.col("country").is_in(countries))["question"])
    compared = set(main["questions"])
    rows = []
    for cat in WVS_CATEGORIES:
        qs = sorted(scored.filter(pl.col("category") == cat)["question"], key=lambda q: int(q[1:]))
        rows.append({"category": cat, "items_scored": len(qs), "items_with_any_figure": sum(q in any_fig for q in qs),
                     "items_compared": sum(q in compared for q in qs),
                     "compared_items": " ".join(q for q in qs if q in compared)})
    return pl.DataFrame(rows, schema={"category": pl.String, "items_scored": pl.Int64, "items_with_any_figure": pl.Int64,
                                      "items_compared": pl.Int64, "compared_items": pl.String}, orient="row")


def write_tables(results: dict[str, Any], pairs: dict[tuple[str, str], Any], rq1: dict[str, list],
                 rq1_summary: dict[str, dict[str, Any]], tokens: dict[str, pl.DataFrame], pub: pl.DataFrame,
                 survey: pl.DataFrame, categories: pl.DataFrame, out_dir: Path) -> dict[str, pl.DataFrame]:
    """Build every table and write it as CSV (6 decimals, so reruns are byte-identical)."""
    tables = build_tables(results, pairs, rq1, tokens, pub, survey, categories)
    tables["rq1_summary"] = pl.DataFrame(
        [{"model": k, "survey": sv, **summ} for k, m in rq1_summary.items() for sv, summ in m.items()],
        schema={"model": pl.String, "survey": pl.String, "pairs": pl.Int64, "tested": pl.Int64,
                "share_raw": pl.Float64, "share_fdr": pl.Float64}, orient="row")
    for name, df in tables.items():
        write_csv(df, out_dir / f"{name}.csv")
    return tables


# ---------------------------------------------------------------- metrics (DVC)

def _mean(values: list[float | None]) -> float | None:
    """Mean of the non-null values; null when there are none."""
    vals = [v for v in values if v is not None]
    return fmean(vals) if vals else None


METRIC_KEYS = ("rho", "p", "p_perm", "p_fdr", "ci_low", "ci_high")  # n lives in the tables; summary has countries
BRIEF_KEYS = ("rho", "p", "p_perm", "p_fdr")  # ablation and agreement: CIs are in the CSV tables


def _stat_block(results: list[dict[str, Any]], by: str, extra: tuple[str, ...] = (),
                keys: tuple[str, ...] = METRIC_KEYS) -> dict[str, dict[str, Any]]:
    """Correlation records keyed by their unit (dimension or category), with the metric keys only."""
    return {r[by]: {k: r[k] for k in (*keys, *extra)} for r in results}


def model_metrics(res: dict[str, Any], rq1: dict[str, Any], tokens: pl.DataFrame, alpha: float) -> dict[str, Any]:
    """The scalar metrics DVC tracks for one model."""
    main, abl = res["score"], res["high_only"]
    sig = lambda rs: sum(1 for r in rs if r["p_fdr"] is not None and r["p_fdr"] <= alpha)  # noqa: E731
    return rounded({
        "hofstede": _stat_block(main["hofstede"], "dimension"),
        "wvs": _stat_block(main["wvs"], "category", ("n_items",)),
        "summary": {
            "countries": len(res["countries"]),
            "hofstede_mean_rho": _mean([r["rho"] for r in main["hofstede"]]),
            "wvs_mean_rho": _mean([r["rho"] for r in main["wvs"]]),
            "hofstede_country_mean_rho": _mean([r["rho"] for r in main["hofstede_countries"]]),
            "wvs_country_mean_rho": _mean([r["rho"] for r in main["wvs_countries"]]),
            "wvs_item_mean_rho": _mean([r["rho"] for r in main["wvs_items"]]),
            "significant_fdr": sig(main["hofstede"] + main["wvs"]),
            "wvs_items_compared": len(main["questions"]),
            "wvs_items_scored": main["items"]["question"].n_unique(),
        },
        "rq1": rq1,
        "ablation": {
            "hofstede": _stat_block(abl["hofstede"], "dimension", keys=BRIEF_KEYS),
            "wvs": _stat_block(abl["wvs"], "category", ("n_items",), keys=BRIEF_KEYS),
            "summary": {"hofstede_mean_rho": _mean([r["rho"] for r in abl["hofstede"]]),
                        "wvs_mean_rho": _mean([r["rho"] for r in abl["wvs"]])},
        },
        "tokenizer": {c: int(tokens[c].sum()) for c in tokens.columns if c != "language"},
    })


def agreement_metrics(pairs: dict[tuple[str, str], dict[str, list]]) -> dict[str, Any]:
    """Model-pair agreement metrics, keyed `<a>_vs_<b>`."""
    return rounded({
        f"{a}_vs_{b}": {"hofstede": _stat_block(r["hofstede"], "dimension", keys=BRIEF_KEYS),
                        "wvs": _stat_block(r["wvs"], "category", ("n_items",), keys=BRIEF_KEYS),
                        "summary": {"hofstede_mean_rho": _mean([x["rho"] for x in r["hofstede"]]),
                                    "wvs_mean_rho": _mean([x["rho"] for x in r["wvs"]])}}
        for (a, b), r in pairs.items()
    })


# ---------------------------------------------------------------- markdown

def fmt(value: Any) -> str:
    """A cell: floats to 3 decimals (p-values below 0.001 as <0.001), nulls as a dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown(df: pl.DataFrame, p_cols: tuple[str, ...] = ("p", "p_perm", "p_fdr")) -> str:
    """A polars table as a markdown table, with the CI columns merged into one."""
    if {"ci_low", "ci_high"} <= set(df.columns):
        df = df.with_columns(
            pl.when(pl.col("ci_low").is_not_null())
            .then(pl.format("[{}, {}]", pl.col("ci_low").round(3), pl.col("ci_high").round(3)))
            .otherwise(None).alias("95% CI")).drop("ci_low", "ci_high")
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    for row in df.iter_rows():
        cells = []
        for col, v in zip(df.columns, row):
            cells.append("<0.001" if col in p_cols and isinstance(v, float) and v < 0.001 else fmt(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(tables: dict[str, pl.DataFrame], metrics: dict[str, dict[str, Any]], path: Path) -> None:
    """build/eval/report.md: the tables, with coverage and method stated."""
    first = next(iter(metrics.values()))
    n = first["summary"]["countries"]
    cov = tables["wvs_coverage"]
    parts = [
        "# Evaluation report",
        "",
        f"Models: {', '.join(metrics)}. Countries compared: {n} (one per probed language; English has no country).",
        "",
        "Every correlation is Spearman's rho across the units named in the table, with scipy's p (t approximation, "
        "comparable to the paper), a permutation p (`p_perm`, pairings permuted), BH-adjusted permutation p (`p_fdr`, "
        "per family: per model the dimension and category correlations together; per-country and per-item tables "
        "each their own family; per model pair for agreement) and a BCa bootstrap 95% CI over the units (a resample with a constant side "
        "counts as rho = 0). Null (–) means too few points (n < 3) or a constant side; with 3 points the CI is null "
        "and scipy's p is 0 for a perfect ranking, so read `p_perm` there.",
        "",
        "## Coverage",
        "",
        f"Hofstede: published 6-D scores (2015 dataset) for all {n} countries; model indices from the VSM 2013 "
        "formulas with C = 0 over item means (score = lp_high - lp_low, high = answer code 5).",
        "",
        f"WVS-7: a category score is the mean over the category's items that have a survey figure for all {n} "
        f"countries, the same items on both sides: {int(cov['items_compared'].sum())} of "
        f"{int(cov['items_scored'].sum())} scored items. Survey means are normalised per item to [0, 1] with 1 = "
        "the top answer code (the answer label_high names).",
        "",
        markdown(cov.drop("compared_items")),
        "",
    ]
    for name, title in TABLES.items():
        parts += [f"## {title}", "", markdown(tables[name]), ""]
    items = tables["wvs_items"]
    parts += ["## WVS per item (across countries)", "",
              "Each scored item with survey figures for at least 3 countries; full table in `wvs_items.csv`.", "",
              markdown(items.group_by("model").agg(
                  pl.col("rho").is_not_null().sum().alias("items_with_rho"),
                  pl.col("rho").mean().alias("mean_rho"),
                  (pl.col("p_fdr") <= 0.05).sum().alias("p_fdr<=0.05")).sort("model")), ""]
    parts += ["## RQ1: do answers differ between countries?", "",
              "Paired Wilcoxon signed-rank test for every pair of countries, over the WVS item scores and over the "
              "six Hofstede indices; share of pairs with p <= alpha, raw and after BH across the pairs "
              "(pair tables in `rq1_pairs.csv`).", "", markdown(tables["rq1_summary"]), ""]
    parts += ["## Tokenizer damage", "",
              "Rows whose labels hit the unknown token, whose two labels tokenize identically, or that need more than "
              "one token.", "", markdown(tables["tokenizer"]), ""]
    write_text("\n".join(parts), path)
