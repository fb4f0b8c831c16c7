"""Stage `evaluate`: model answers against Hofstede and WVS-7 country figures, model agreement, country differences."""

from __future__ import annotations

import shutil
from itertools import combinations
from pathlib import Path
from typing import Any, Mapping

import polars as pl

from pipeline.common import ROOT, PipelineError, cli, read_parquet, rel, validate, write_json
from pipeline.params import registry, section
from pipeline.stats import CORR_KEYS, Inference, correlate, wilcoxon_pairs, with_fdr
from pipeline.survey import OUT_DIR as SURVEY_DIR
from pipeline.templates import OUT_DIR as TEMPLATES_DIR
from schemas.evaluation import ScoreInput
from schemas.surveys import HofstedeScoreRow, WvsMeanRow
from schemas.templates import HOFSTEDE_DIMENSIONS, WVS_CATEGORIES

SCORES_DIR = ROOT / "build" / "scores"
EVAL_DIR = ROOT / "build" / "eval"
METRICS_DIR = ROOT / "metrics" / "models"
AGREEMENT_FILE = ROOT / "metrics" / "agreement.json"
SCORE_KINDS = ("score", "high_only")  # the main score and the high-label-only ablation
TOKEN_FLAGS = ("unk_high", "unk_low", "labels_collide")
OPTIONAL_FLAGS = ("straddle_high", "straddle_low")  # counted when the score file has them

# VSM 2013 index formulas with C = 0: index = sum of weight * (m_plus - m_minus), m = item mean on codes 1-5.
VSM_FORMULAS: dict[str, tuple[tuple[int, str, str], ...]] = {
    "pdi": ((35, "07", "02"), (25, "20", "23")),
    "idv": ((35, "04", "01"), (35, "09", "06")),
    "mas": ((35, "05", "03"), (35, "08", "10")),
    "uai": ((40, "18", "15"), (25, "21", "24")),
    "lto": ((40, "13", "14"), (25, "19", "22")),
    "ivr": ((35, "12", "11"), (40, "17", "16")),
}
VSM_ITEMS = sorted({q for terms in VSM_FORMULAS.values() for _, a, b in terms for q in (a, b)})


# ---------------------------------------------------------------- inputs

def model_keys() -> list[str]:
    """The models to evaluate: the keys of params `score.models`."""
    models = section("score").get("models")
    if not isinstance(models, dict) or not models:
        raise PipelineError("params.yaml: `score.models` must map model keys to {name, revision}")
    return list(models)


def load_scores(keys: list[str], scores_dir: Path) -> dict[str, pl.DataFrame]:
    """Each model's validated score file; the files must cover the same probe ids and languages."""
    scores = {}
    for key in keys:
        path = scores_dir / f"{key}.parquet"
        df = read_parquet(path)
        missing = [c for c in ScoreInput.to_schema().columns if c not in df.columns]
        if missing:  # pandera's coercion would fail on these before reporting them
            raise PipelineError(f"{rel(path)}: missing column(s) {', '.join(missing)} of the score-file contract; "
                                "re-run the score stage")
        df = validate(df, ScoreInput, rel(path))
        scores[key] = df.with_columns(pl.col(k).cast(pl.Float64).fill_nan(None) for k in SCORE_KINDS)
    check_same_ids(scores, scores_dir)
    return scores


def check_same_ids(scores: dict[str, pl.DataFrame], scores_dir: Path) -> None:
    """Score files from different dataset versions cannot be compared: their (id, language) sets must agree."""
    keys = list(scores)
    ref = set(scores[keys[0]].select("id", "language").iter_rows())
    for key in keys[1:]:
        rows = set(scores[key].select("id", "language").iter_rows())
        if rows != ref:
            only_a, only_b = sorted(ref - rows)[:5], sorted(rows - ref)[:5]
            raise PipelineError(
                f"{rel(scores_dir / f'{key}.parquet')} and {rel(scores_dir / f'{keys[0]}.parquet')} score different "
                f"probes ({len(ref - rows)} only in {keys[0]}, e.g. {only_a}; {len(rows - ref)} only in {key}, e.g. "
                f"{only_b}): they come from different dataset versions. Re-run the score stage for every model.")


def load_items(templates: pl.DataFrame) -> pl.DataFrame:
    """One row per survey item: survey, question, category."""
    items = templates.select("survey", "question", "category").unique().sort("survey", "question")
    dup = items.filter(pl.struct("survey", "question").is_duplicated())["question"].unique().sort().to_list()
    if dup:
        raise PipelineError(f"build/templates/probes.parquet: item(s) {', '.join(dup)} have probes in different "
                            "categories; give each item one category in probes/templates/")
    return items


def check_questions(scores: dict[str, pl.DataFrame], items: pl.DataFrame, scores_dir: Path) -> None:
    """Every scored item is an item of the current templates."""
    known = set(items.select("survey", "question").iter_rows())
    for key, df in scores.items():
        unknown = sorted(set(df.select("survey", "question").iter_rows()) - known)
        if unknown:
            raise PipelineError(f"{rel(scores_dir / f'{key}.parquet')}: {len(unknown)} scored item(s) are not in "
                                f"build/templates/probes.parquet, e.g. {unknown[:5]}: the scores come from another "
                                "dataset version. Re-run the score stage.")


def language_countries(languages: list[str], source: str) -> dict[str, str]:
    """Language -> ISO3 for the languages with a country (en has none and is left out)."""
    reg = registry()
    unknown = [lang for lang in languages if lang not in reg]
    if unknown:
        raise PipelineError(f"{source}: language(s) {unknown} are not in probes/languages.yaml")
    return {lang: reg[lang]["iso3"] for lang in languages if reg[lang].get("iso3")}


def check_survey_coverage(countries: list[str], hofstede: pl.DataFrame, wvs: pl.DataFrame) -> None:
    """Every compared country has Hofstede scores and at least one WVS figure."""
    names = {e["iso3"]: f"{e['country']} ({lang})" for lang, e in registry().items() if e.get("iso3")}
    for table, path in ((hofstede, SURVEY_DIR / "hofstede.parquet"), (wvs, SURVEY_DIR / "wvs_means.parquet")):
        missing = [c for c in countries if c not in set(table["iso3"])]
        if missing:
            raise PipelineError(
                f"{rel(path)}: no survey figures for {', '.join(f'{c} {names.get(c, c)}' for c in missing)}, which "
                "the score files cover. Add the country's figures to data/surveys/ (with their source) or drop the "
                "language from params `languages`.")


# ---------------------------------------------------------------- aggregation (pure)

def item_means(scores: pl.DataFrame, kind: str, survey: str, countries: Mapping[str, str]) -> pl.DataFrame:
    """Mean score of each item's probes (variants and bipolar a/b probes together), per country."""
    return (scores.filter((pl.col("survey") == survey) & pl.col("language").is_in(list(countries)))
            .group_by("language", "question").agg(pl.col(kind).mean().alias("value"))
            .select(pl.col("language").replace_strict(dict(countries), return_dtype=pl.String).alias("country"),
                    "question", "value")
            .sort("country", "question"))


def vsm_indices(m: Mapping[str, float | None]) -> dict[str, float | None]:
    """The six VSM 2013 indices (C = 0) from item means keyed "01".."24"; null where an item mean is null."""
    out: dict[str, float | None] = {}
    for dim, terms in VSM_FORMULAS.items():
        parts = [(w, m.get(a), m.get(b)) for w, a, b in terms]
        out[dim] = None if any(x is None or y is None for _, x, y in parts) else sum(w * (x - y) for w, x, y in parts)
    return out


def hofstede_indices(means: pl.DataFrame) -> pl.DataFrame:
    """Predicted indices per country and dimension from the Hofstede item means."""
    present = set(means["question"])
    missing = [q for q in VSM_ITEMS if q not in present]
    if missing and means.height:
        raise PipelineError(f"Hofstede item(s) {', '.join(missing)} have no scores; the VSM formulas need all 24 "
                            "(check probes/templates/hofstede.yaml and the score files)")
    rows = []
    for (country,), sub in means.group_by("country", maintain_order=True):
        idx = vsm_indices(dict(sub.select("question", "value").iter_rows()))
        rows += [{"country": country, "dimension": d, "value": idx[d]} for d in HOFSTEDE_DIMENSIONS]
    return pl.DataFrame(rows, schema={"country": pl.String, "dimension": pl.String, "value": pl.Float64})


def published_long(hofstede: pl.DataFrame) -> pl.DataFrame:
    """Published scores as (country, dimension, published)."""
    return (hofstede.unpivot(on=list(HOFSTEDE_DIMENSIONS), index="iso3", variable_name="dimension",
                             value_name="published")
            .select(pl.col("iso3").alias("country"), "dimension", pl.col("published").cast(pl.Float64)))


def normalise_wvs(wvs: pl.DataFrame) -> pl.DataFrame:
    """Survey means on [0, 1] per item, 1 = the top answer code (the one label_high names)."""
    return wvs.select(pl.col("iso3").alias("country"), "question",
                      ((pl.col("mean") - pl.col("scale_min")) / (pl.col("scale_max") - pl.col("scale_min"))).alias("survey"))


def compared_items(model: pl.DataFrame, survey: pl.DataFrame, countries: list[str]) -> list[str]:
    """Items with a model score and a survey figure for every compared country (the same items on both sides)."""
    both = (model.drop_nulls("value").join(survey.drop_nulls("survey"), on=["country", "question"])
            .filter(pl.col("country").is_in(countries)))
    full = both.group_by("question").agg(pl.col("country").n_unique().alias("k")).filter(pl.col("k") == len(countries))
    return sorted(full["question"].to_list())


def category_scores(model: pl.DataFrame, categories: pl.DataFrame, survey: pl.DataFrame | None,
                    questions: list[str]) -> pl.DataFrame:
    """Mean item score per country and category over `questions` (model side, and survey side when given)."""
    df = model.filter(pl.col("question").is_in(questions)).join(categories, on="question")
    if survey is not None:
        df = df.join(survey, on=["country", "question"], how="left")
    aggs = [pl.col("question").n_unique().alias("n_items"), pl.col("value").mean().alias("model")]
    if survey is not None:
        aggs.append(pl.col("survey").mean().alias("survey"))
    return df.group_by("country", "category").agg(aggs).sort("category", "country")


# ---------------------------------------------------------------- analyses

def grouped(df: pl.DataFrame, by: str, x: str, y: str, inf: Inference, keep: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """One correlation per value of `by` (sorted), between columns x and y over that group's rows."""
    out = []
    for (key,), sub in df.sort(by).group_by(by, maintain_order=True):
        sub = sub.sort(sub.columns)  # a fixed row order keeps the seeded resampling reproducible
        extra = {k: sub[k][0] for k in keep}
        out.append({by: key, **extra, **correlate(sub[x].to_list(), sub[y].to_list(), inf)})
    return out


def fill_groups(results: list[dict[str, Any]], by: str, names: tuple[str, ...], defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """Results for every name in `names` (in that order); absent ones are null correlations."""
    have = {r[by]: r for r in results}
    return [have.get(n) or {by: n, **defaults, **dict.fromkeys(CORR_KEYS), "n": 0} for n in names]


def survey_grid(pred: pl.DataFrame, pub: pl.DataFrame, cats: pl.DataFrame, inf: Inference) -> tuple[list, list]:
    """Per-dimension and per-category correlations against the surveys, BH-corrected as one family."""
    hof = fill_groups(grouped(pred.join(pub, on=["country", "dimension"]), "dimension", "value", "published", inf),
                      "dimension", HOFSTEDE_DIMENSIONS, {})
    wvs = fill_groups(grouped(cats, "category", "model", "survey", inf, keep=("n_items",)),
                      "category", WVS_CATEGORIES, {"n_items": 0})
    family = with_fdr(hof + wvs)
    return family[: len(hof)], family[len(hof):]


def analyse(scores: pl.DataFrame, countries: Mapping[str, str], categories: pl.DataFrame, pub: pl.DataFrame,
            survey: pl.DataFrame, inf: Inference) -> dict[str, Any]:
    """All per-model analyses: main score and high-only ablation against the surveys."""
    iso = sorted(set(countries.values()))
    out: dict[str, Any] = {"countries": iso}
    for kind in SCORE_KINDS:
        pred = hofstede_indices(item_means(scores, kind, "hofstede", countries))
        model_items = item_means(scores, kind, "wvs", countries)
        questions = compared_items(model_items, survey, iso)
        cats = category_scores(model_items, categories, survey, questions)
        hof, wvs = survey_grid(pred, pub, cats, inf)
        out[kind] = {"indices": pred, "items": model_items, "questions": questions, "categories": cats,
                     "hofstede": hof, "wvs": wvs}
    main = out["score"]
    pred, cats, model_items = main["indices"], main["categories"], main["items"]
    main["hofstede_countries"] = with_fdr(grouped(pred.join(pub, on=["country", "dimension"]), "country", "value",
                                                  "published", inf))
    main["wvs_countries"] = with_fdr(grouped(cats, "country", "model", "survey", inf))
    per_item = model_items.join(survey, on=["country", "question"]).join(categories, on="question")
    main["wvs_items"] = with_fdr(grouped(per_item, "question", "value", "survey", inf, keep=("category",)))
    main["all_categories"] = category_scores(model_items, categories, None, sorted(set(model_items["question"])))
    return out


def country_differences(main: dict[str, Any], alpha: float) -> tuple[list[dict], dict[str, Any]]:
    """RQ1: paired Wilcoxon tests between every two countries, over WVS item scores and over the six indices."""
    records, summary = [], {}
    for survey, df, col in (("wvs", main["items"], "question"), ("hofstede", main["indices"], "dimension")):
        matrix = {}
        if df.height:  # one column per country, rows aligned by item (or dimension)
            wide = df.pivot("country", index=col, values="value", sort_columns=True).sort(col)
            matrix = {c: wide[c].to_list() for c in wide.columns if c != col}
        recs, summ = wilcoxon_pairs(matrix, alpha)
        records += [{"survey": survey, **r} for r in recs]
        summary[survey] = summ
    return records, summary


def agreement(a: dict[str, Any], b: dict[str, Any], inf: Inference) -> dict[str, list]:
    """Spearman between two models' Hofstede indices and WVS category scores (all probed items) across countries."""
    ia, ib = a["score"]["indices"], b["score"]["indices"]
    hof = fill_groups(grouped(ia.join(ib, on=["country", "dimension"], suffix="_b"), "dimension", "value", "value_b", inf),
                      "dimension", HOFSTEDE_DIMENSIONS, {})
    ca, cb = a["score"]["all_categories"], b["score"]["all_categories"]
    wvs = fill_groups(grouped(ca.join(cb.drop("n_items"), on=["country", "category"], suffix="_b"), "category",
                              "model", "model_b", inf, keep=("n_items",)),
                      "category", WVS_CATEGORIES, {"n_items": 0})
    family = with_fdr(hof + wvs)
    return {"hofstede": family[: len(hof)], "wvs": family[len(hof):]}


def tokenizer_counts(scores: pl.DataFrame) -> pl.DataFrame:
    """Tokenizer damage per language: unknown tokens, colliding labels, multi-token labels, missing scores."""
    flags = [f for f in (*TOKEN_FLAGS, *OPTIONAL_FLAGS) if f in scores.columns]
    return (scores.group_by("language").agg(
        pl.len().alias("rows"),
        *[pl.col(f).sum().cast(pl.Int64).alias(f) for f in flags],
        (pl.col("n_tokens_high") > 1).sum().cast(pl.Int64).alias("multi_token_high"),
        (pl.col("n_tokens_low") > 1).sum().cast(pl.Int64).alias("multi_token_low"),
        pl.col("score").is_null().sum().cast(pl.Int64).alias("null_scores"),
    ).sort("language"))


# ---------------------------------------------------------------- stage

def inference() -> tuple[Inference, float]:
    """Resampling settings and alpha from params `evaluate:`."""
    p = section("evaluate")
    try:
        inf = Inference(seed=int(p["seed"]), n_resamples=int(p["n_resamples"]),
                        confidence_level=float(p["confidence_level"]))
        alpha = float(p["alpha"])
    except (KeyError, TypeError, ValueError) as err:
        raise PipelineError(f"params.yaml `evaluate:` needs integer seed and n_resamples, confidence_level and alpha "
                            f"in (0, 1): {err}") from None
    if inf.n_resamples < 99 or not 0 < inf.confidence_level < 1 or not 0 < alpha < 1:
        raise PipelineError("params.yaml `evaluate:` n_resamples must be >= 99; confidence_level and alpha in (0, 1)")
    return inf, alpha


def write_metrics_dir(per_model: dict[str, dict[str, Any]], directory: Path) -> None:
    """metrics/models/<key>.json for exactly the evaluated models (stale files of dropped models go)."""
    if directory.exists():
        shutil.rmtree(directory)
    for key, m in per_model.items():
        write_json(m, directory / f"{key}.json")


@cli
def main() -> None:
    from pipeline.plots import write_plots
    from pipeline.report import agreement_metrics, model_metrics, write_report, write_tables

    inf, alpha = inference()
    keys = model_keys()
    scores = load_scores(keys, SCORES_DIR)
    templates = read_parquet(TEMPLATES_DIR / "probes.parquet")
    items = load_items(templates)
    check_questions(scores, items, SCORES_DIR)
    first = scores[keys[0]]
    countries = language_countries(first["language"].unique().sort().to_list(), rel(SCORES_DIR / f"{keys[0]}.parquet"))
    hofstede = validate(read_parquet(SURVEY_DIR / "hofstede.parquet"), HofstedeScoreRow,
                        rel(SURVEY_DIR / "hofstede.parquet"), key="iso3")
    wvs = validate(read_parquet(SURVEY_DIR / "wvs_means.parquet"), WvsMeanRow,
                   rel(SURVEY_DIR / "wvs_means.parquet"), key="question")
    check_survey_coverage(sorted(countries.values()), hofstede, wvs)
    categories = items.filter(pl.col("survey") == "wvs").select("question", "category")
    pub, survey = published_long(hofstede), normalise_wvs(wvs)

    results, per_model, rq1_records, rq1_summary, tokens = {}, {}, {}, {}, {}
    for key in keys:
        res = analyse(scores[key], countries, categories, pub, survey, inf)
        rq1_records[key], rq1_summary[key] = country_differences(res["score"], alpha)
        tokens[key] = tokenizer_counts(scores[key])
        results[key] = res
        per_model[key] = model_metrics(res, rq1_summary[key], tokens[key], alpha)
    pairs = {(a, b): agreement(results[a], results[b], inf) for a, b in combinations(keys, 2)}

    if EVAL_DIR.exists():
        shutil.rmtree(EVAL_DIR)
    tables = write_tables(results, pairs, rq1_records, rq1_summary, tokens, pub, survey, categories, EVAL_DIR)
    write_plots(results, pub, EVAL_DIR / "plots", EVAL_DIR / "png")
    write_report(tables, per_model, EVAL_DIR / "report.md")
    write_metrics_dir(per_model, METRICS_DIR)
    write_json(agreement_metrics(pairs), AGREEMENT_FILE)
    for key, m in per_model.items():
        s = m["summary"]
        print(f"evaluate: {key}: {s['countries']} countries, Hofstede mean rho {s['hofstede_mean_rho']}, "
              f"WVS mean rho {s['wvs_mean_rho']} over {s['wvs_items_compared']} items with survey figures")
    print(f"evaluate: tables and report in {rel(EVAL_DIR)}, metrics in {rel(METRICS_DIR)} and {rel(AGREEMENT_FILE)}")


if __name__ == "__main__":
    main()
