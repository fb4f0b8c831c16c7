"""Evaluation: VSM formulas and directions, WVS normalisation, statistics against scipy, bad inputs, DVC metrics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from scipy import stats

import pipeline.evaluate as ev
from pipeline.common import ROOT, PipelineError
from pipeline.params import registry
from pipeline.report import model_metrics
from pipeline.stats import Inference, bh, correlate, spearman_rho, wilcoxon_pairs
from pipeline.survey import load_hofstede, load_wvs
from pipeline.templates import TEMPLATE_DIR, build_templates
from schemas.templates import HOFSTEDE_DIMENSIONS, WVS_CATEGORIES

FAST = Inference(seed=7, n_resamples=199)
LANGS = [lang for lang in registry()]  # en + the 13 languages with a country
COUNTRIES = {lang: e["iso3"] for lang, e in registry().items() if e.get("iso3")}


@pytest.fixture(scope="module")
def templates() -> pl.DataFrame:
    return build_templates([TEMPLATE_DIR / "hofstede.yaml", TEMPLATE_DIR / "wvs.yaml"])[0]


@pytest.fixture(scope="module")
def surveys() -> tuple[pl.DataFrame, pl.DataFrame]:
    return load_hofstede(), load_wvs()


def fake_scores(templates: pl.DataFrame, hofstede: pl.DataFrame, wvs: pl.DataFrame, langs: list[str],
                seed: int = 0, noise: float = 0.0, sign: float = 1.0) -> pl.DataFrame:
    """Score rows (score-stage contract) whose item means reproduce the survey figures, plus noise.

    Hofstede: for each index the first term's plus item gets published/weight, the other three items 0, so the
    VSM formula returns the published score. WVS: the item's normalised survey mean (uniform noise where none).
    """
    rng = np.random.default_rng(seed)
    pub = {r["iso3"]: r for r in hofstede.iter_rows(named=True)}
    norm = {(r["iso3"], r["question"]): (r["mean"] - r["scale_min"]) / (r["scale_max"] - r["scale_min"])
            for r in wvs.iter_rows(named=True)}
    rows = []
    for lang in langs:
        iso = registry()[lang]["iso3"]
        target = {}
        for dim, ((w, plus, minus), (_, c, d)) in ev.VSM_FORMULAS.items():
            target |= {plus: pub[iso][dim] / w if iso else 0.0, minus: 0.0, c: 0.0, d: 0.0}
        for r in templates.iter_rows(named=True):
            q = r["question"]
            base = target[q] if r["survey"] == "hofstede" else norm.get((iso, q), rng.uniform())
            s = sign * base + noise * rng.normal()
            lp_low = -20.0 + rng.normal()
            lp_high = lp_low + s
            rows.append({"id": r["id"], "language": lang, "survey": r["survey"], "question": q,
                         "lp_high": lp_high, "lp_low": lp_low, "score": lp_high - lp_low, "high_only": lp_high,
                         "n_tokens_high": int(rng.integers(1, 3)), "n_tokens_low": 1,
                         "unk_high": bool(rng.random() < 0.02), "unk_low": False,
                         "labels_collide": bool(rng.random() < 0.02), "straddle_high": False, "straddle_low": False})
    return pl.DataFrame(rows)


def categories(templates: pl.DataFrame) -> pl.DataFrame:
    return templates.filter(pl.col("survey") == "wvs").select("question", "category").unique()


def run_analysis(templates, surveys, scores, inf=FAST) -> dict:
    hofstede, wvs = surveys
    countries = {lang: iso for lang, iso in COUNTRIES.items() if lang in set(scores["language"])}
    return ev.analyse(scores, countries, categories(templates), ev.published_long(hofstede), ev.normalise_wvs(wvs), inf)


# ---------------------------------------------------------------- VSM formulas and directions

def test_vsm_formulas_on_hand_made_numbers():
    m = {f"{i:02d}": 0.0 for i in range(1, 25)}
    m |= {"07": 3.0, "02": 2.0, "20": 4.0, "23": 1.0,   # PDI = 35*1 + 25*3
          "04": 2.5, "01": 2.0, "09": 1.0, "06": 2.0,   # IDV = 35*0.5 + 35*(-1)
          "05": 2.0, "03": 1.0, "08": 3.0, "10": 1.0,   # MAS = 35*1 + 35*2
          "18": 2.0, "15": 1.5, "21": 1.0, "24": 3.0,   # UAI = 40*0.5 + 25*(-2)
          "13": 4.0, "14": 2.0, "19": 1.0, "22": 1.0,   # LTO = 40*2 + 25*0
          "12": 2.0, "11": 3.0, "17": 5.0, "16": 1.0}   # IVR = 35*(-1) + 40*4
    assert ev.vsm_indices(m) == pytest.approx({"pdi": 110, "idv": -17.5, "mas": 105, "uai": -30, "lto": 80,
                                               "ivr": 125})
    assert ev.vsm_indices({**m, "07": None})["pdi"] is None
    assert sorted(ev.VSM_ITEMS) == [f"{i:02d}" for i in range(1, 25)]


def test_item_means_average_variants_and_raise_the_plus_items_index():
    rows = [{"language": "de", "survey": "hofstede", "question": f"{i:02d}", "score": 0.0} for i in range(1, 25)]
    rows += [{"language": "de", "survey": "hofstede", "question": "07", "score": 1.0},   # a variant of item 07
             {"language": "en", "survey": "hofstede", "question": "07", "score": 9.0}]   # no country: left out
    means = ev.item_means(pl.DataFrame(rows), "score", "hofstede", {"de": "DEU"})
    assert means.filter(pl.col("question") == "07")["value"].item() == 0.5
    idx = dict(ev.hofstede_indices(means).select("dimension", "value").iter_rows())
    assert idx["pdi"] == pytest.approx(35 * 0.5) and idx["idv"] == 0


def test_missing_hofstede_item_is_an_error():
    means = pl.DataFrame({"country": ["DEU"], "question": ["01"], "value": [1.0]})
    with pytest.raises(PipelineError, match="02, 03"):
        ev.hofstede_indices(means)


def test_scores_built_from_published_figures_correlate_perfectly_and_negated_inversely(templates, surveys):
    res = run_analysis(templates, surveys, fake_scores(templates, *surveys, LANGS))
    pred = res["score"]["indices"].join(ev.published_long(surveys[0]), on=["country", "dimension"])
    assert (pred["value"] - pred["published"]).abs().max() < 1e-9  # the formulas give back the published scores
    assert [r["rho"] for r in res["score"]["hofstede"]] == pytest.approx([1.0] * 6)
    assert all(r["n"] == 13 for r in res["score"]["hofstede"])
    wvs = {r["category"]: r for r in res["score"]["wvs"]}
    assert wvs["social_capital"]["rho"] == pytest.approx(1.0) and wvs["social_capital"]["n_items"] == 16
    assert wvs["economic"]["rho"] is None and wvs["economic"]["n_items"] == 0
    neg = run_analysis(templates, surveys, fake_scores(templates, *surveys, LANGS, sign=-1.0))
    assert [r["rho"] for r in neg["score"]["hofstede"]] == pytest.approx([-1.0] * 6)


# ---------------------------------------------------------------- WVS normalisation and item sets

def test_wvs_normalisation_puts_the_top_code_at_one():
    wvs = pl.DataFrame({"iso3": ["DEU", "DEU", "TUR", "TUR"], "question": ["Q1", "Q246", "Q1", "Q246"],
                        "mean": [2.5, 10.0, 1.0, 0.0], "scale_min": [1, 0, 1, 0], "scale_max": [4, 10, 4, 10]})
    assert ev.normalise_wvs(wvs)["survey"].to_list() == [0.5, 1.0, 0.0, 0.0]


def test_category_scores_use_the_same_items_on_both_sides():
    model = pl.DataFrame({"country": ["DEU", "TUR", "VNM"] * 3, "question": ["Q1"] * 3 + ["Q2"] * 3 + ["Q3"] * 3,
                          "value": [1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 5.0, 5.0, 5.0]})
    survey = pl.DataFrame({"country": ["DEU", "TUR", "VNM", "DEU", "TUR"], "question": ["Q1"] * 3 + ["Q2"] * 2,
                           "survey": [0.1, 0.2, 0.3, 0.9, 0.8]})   # Q2 lacks VNM, Q3 has no figures
    cats = pl.DataFrame({"question": ["Q1", "Q2", "Q3"], "category": ["happiness"] * 3})
    questions = ev.compared_items(model, survey, ["DEU", "TUR", "VNM"])
    assert questions == ["Q1"]
    got = ev.category_scores(model, cats, survey, questions)
    assert got["n_items"].to_list() == [1, 1, 1]
    assert got["model"].to_list() == [1.0, 2.0, 3.0] and got["survey"].to_list() == [0.1, 0.2, 0.3]
    assert ev.compared_items(model, survey, ["DEU", "TUR"]) == ["Q1", "Q2"]


# ---------------------------------------------------------------- statistics against scipy

VECTORS = [
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], [2, 1, 4, 3, 7, 5, 6, 9, 8, 13, 10, 12, 11]),
    ([35, 67, 60, 14, 58, 55, 104, 20, 86, 66, 70, 60, 78], [0.3, -1.2, 2.5, 0.0, 0.0, 1.1, 3.3, -0.4, 2.0, 0.7, 0.9, 1.5, 2.2]),
    ([1, 1, 2, 2, 3, 3, 4], [7, 6, 5, 5, 3, 2, 1]),   # ties on both sides
    ([0.1, 0.5, 0.2], [3.0, 1.0, 2.0]),              # the minimum n
]


@pytest.mark.parametrize("x,y", VECTORS)
def test_rho_and_p_equal_scipy(x, y):
    got = correlate(x, y, FAST)
    ref = stats.spearmanr(x, y)
    assert got["rho"] == pytest.approx(ref.statistic, abs=1e-12)
    assert got["p"] == pytest.approx(ref.pvalue, abs=1e-12)
    assert got["n"] == len(x)
    assert 0 < got["p_perm"] <= 1
    if len(x) > 3:  # with 3 points the BCa jackknife is degenerate: the CI is null, not a number
        assert got["ci_low"] <= got["rho"] + 1e-9 and got["ci_high"] >= got["rho"] - 1e-9
    else:
        assert got["ci_low"] is None and got["ci_high"] is None
    assert spearman_rho(np.array(x, float), np.array(y, float)) == pytest.approx(ref.statistic, abs=1e-12)


def test_vectorized_statistic_equals_scipy_row_by_row():
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 5, size=(50, 13)).astype(float), rng.normal(size=(50, 13))
    got = spearman_rho(x, y)
    ref = [stats.spearmanr(a, b).statistic for a, b in zip(x, y)]
    assert np.allclose(got, ref, equal_nan=True)


def test_permutation_p_is_exact_for_small_n():
    # n = 5: all 120 pairings are enumerated; |rho| = 1 for exactly 2 of them.
    got = correlate([1, 2, 3, 4, 5], [2, 4, 6, 8, 10], FAST)
    assert got["p_perm"] == pytest.approx(2 / 120)


def test_bootstrap_ci_is_reproducible_with_the_seed():
    x, y = VECTORS[1]
    a, b = correlate(x, y, Inference(seed=1, n_resamples=999)), correlate(x, y, Inference(seed=1, n_resamples=999))
    assert (a["ci_low"], a["ci_high"], a["p_perm"]) == (b["ci_low"], b["ci_high"], b["p_perm"])
    c = correlate(x, y, Inference(seed=2, n_resamples=999))
    assert (c["ci_low"], c["ci_high"]) != (a["ci_low"], a["ci_high"])
    assert c["rho"] == a["rho"] and c["p"] == a["p"]
    # Six points with a tie (one country's six dimensions): some resamples are constant, the CI is still defined.
    six = correlate([90, 30, 42, 90, 52, 20], [1.5, -0.2, 0.3, 1.1, 0.9, 0.1], Inference(seed=1, n_resamples=9999))
    assert six["ci_low"] is not None and six["ci_low"] <= six["rho"] <= six["ci_high"]


def test_degenerate_inputs_are_nulls_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x, y in [([1, 1, 1, 1], [1, 2, 3, 4]), ([1, 2], [2, 1]), ([], []), ([1, None, 3, np.nan], [1, 2, 3, 4])]:
            got = correlate(x, y, FAST)
            assert {k: got[k] for k in ("rho", "p", "p_perm", "ci_low", "ci_high")} == dict.fromkeys(
                ("rho", "p", "p_perm", "ci_low", "ci_high"))
        assert correlate([1, None, 3, 4], [1, 2, 3, 5], FAST)["n"] == 3
        recs, summ = wilcoxon_pairs({"A": [1.0, 2.0], "B": [1.0, 2.0]}, 0.05)
        assert recs[0]["p"] is None and summ == {"pairs": 1, "tested": 0, "share_raw": None, "share_fdr": None}


def test_bh_equals_scipy_and_keeps_nulls():
    ps = [0.01, None, 0.04, 0.03, 0.2]
    ref = stats.false_discovery_control([0.01, 0.04, 0.03, 0.2], method="bh")
    got = bh(ps)
    assert got[1] is None and got[0] == pytest.approx(ref[0]) and got[2:] == pytest.approx(list(ref[1:]))
    assert bh([None, None]) == [None, None]


def test_wilcoxon_share_on_a_known_case():
    base = np.linspace(-2, 2, 20)
    wiggle = np.where(np.arange(20) % 2 == 0, 0.1, -0.1) * np.linspace(1, 2, 20)  # symmetric around A
    matrix = {"A": list(base), "B": list(base + 1.0), "C": list(base + wiggle)}
    recs, summ = wilcoxon_pairs(matrix, 0.05)
    p = {(r["country_a"], r["country_b"]): r["p"] for r in recs}
    assert p[("A", "B")] == pytest.approx(stats.wilcoxon(base, base + 1.0).pvalue)
    assert p[("A", "B")] < 1e-4 and p[("B", "C")] < 1e-4 and p[("A", "C")] > 0.5
    assert summ == {"pairs": 3, "tested": 3, "share_raw": pytest.approx(2 / 3), "share_fdr": pytest.approx(2 / 3)}


# ---------------------------------------------------------------- metrics, tables, degenerate country sets

def test_metrics_have_the_documented_keys_and_are_rounded(templates, surveys):
    scores = fake_scores(templates, *surveys, LANGS, noise=0.5)
    res = run_analysis(templates, surveys, scores)
    rq1_records, rq1 = ev.country_differences(res["score"], 0.05)
    m = model_metrics(res, rq1, ev.tokenizer_counts(scores), 0.05)
    keys = {"rho", "p", "p_perm", "p_fdr", "ci_low", "ci_high"}
    assert set(m["hofstede"]) == set(HOFSTEDE_DIMENSIONS) and all(set(v) == keys for v in m["hofstede"].values())
    assert set(m["wvs"]) == set(WVS_CATEGORIES) and all(set(v) == keys | {"n_items"} for v in m["wvs"].values())
    assert m["wvs"]["migration"]["rho"] is None and m["wvs"]["migration"]["n_items"] == 0
    assert m["rq1"]["wvs"]["pairs"] == 78 and len([r for r in rq1_records if r["survey"] == "hofstede"]) == 78
    assert m["summary"]["countries"] == 13 and m["summary"]["wvs_items_compared"] == 46
    assert m["tokenizer"]["rows"] == scores.height and m["tokenizer"]["unk_high"] == scores["unk_high"].sum()
    def floats(obj):
        if isinstance(obj, dict):
            return [f for v in obj.values() for f in floats(v)]
        return [obj] if isinstance(obj, float) else []
    assert floats(m) and all(round(f, 6) == f for f in floats(m))
    # The pipeline's numbers are scipy's on the same vectors.
    both = res["score"]["indices"].join(ev.published_long(surveys[0]), on=["country", "dimension"])
    pdi = both.filter(pl.col("dimension") == "pdi").sort("country")
    ref = stats.spearmanr(pdi["value"], pdi["published"])
    assert m["hofstede"]["pdi"]["rho"] == round(ref.statistic, 6) and m["hofstede"]["pdi"]["p"] == round(ref.pvalue, 6)


def test_two_countries_give_null_correlations_and_english_only_runs(templates, surveys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = run_analysis(templates, surveys, fake_scores(templates, *surveys, ["en", "de", "tr"], noise=0.1))
        assert all(r["rho"] is None and r["n"] == 2 for r in res["score"]["hofstede"])
        _, rq1 = ev.country_differences(res["score"], 0.05)
        assert rq1["wvs"]["pairs"] == 1 and rq1["wvs"]["tested"] == 1
        only_en = run_analysis(templates, surveys, fake_scores(templates, *surveys, ["en"]))
        assert only_en["countries"] == [] and ev.country_differences(only_en["score"], 0.05)[1]["wvs"]["pairs"] == 0


def test_full_resampling_runtime_per_model_is_modest(templates, surveys):
    scores = fake_scores(templates, *surveys, LANGS, noise=0.5)
    start = time.perf_counter()
    run_analysis(templates, surveys, scores, Inference(seed=1, n_resamples=9999))
    assert time.perf_counter() - start < 30


# ---------------------------------------------------------------- the stage, in-process

@pytest.fixture
def stage(tmp_path, monkeypatch, templates, surveys):
    """evaluate.main() wired to a temporary build folder with two models' score files."""
    build = tmp_path / "build"
    (build / "templates").mkdir(parents=True)
    templates.write_parquet(build / "templates" / "probes.parquet")
    (build / "survey").mkdir()
    surveys[0].write_parquet(build / "survey" / "hofstede.parquet")
    surveys[1].write_parquet(build / "survey" / "wvs_means.parquet")
    (build / "scores").mkdir()
    langs = ["en", "de", "tr", "vi", "ko", "ro"]
    for seed, key in enumerate(("a", "b")):
        fake_scores(templates, *surveys, langs, seed=seed, noise=0.3).write_parquet(build / "scores" / f"{key}.parquet")
    params = {"score": {"models": {"a": {}, "b": {}}},
              "evaluate": {"seed": 1, "n_resamples": 199, "confidence_level": 0.95, "alpha": 0.05}}
    monkeypatch.setattr(ev, "section", lambda name: params[name])
    monkeypatch.setattr(ev, "SCORES_DIR", build / "scores")
    monkeypatch.setattr(ev, "SURVEY_DIR", build / "survey")
    monkeypatch.setattr(ev, "TEMPLATES_DIR", build / "templates")
    monkeypatch.setattr(ev, "EVAL_DIR", build / "eval")
    monkeypatch.setattr(ev, "METRICS_DIR", tmp_path / "metrics" / "models")
    monkeypatch.setattr(ev, "AGREEMENT_FILE", tmp_path / "metrics" / "agreement.json")
    return tmp_path


def test_stage_writes_metrics_tables_report_and_plots(stage):
    ev.main()
    assert sorted(p.name for p in (stage / "metrics" / "models").iterdir()) == ["a.json", "b.json"]
    agreement = json.loads((stage / "metrics" / "agreement.json").read_text())
    assert set(agreement) == {"a_vs_b"} and set(agreement["a_vs_b"]["hofstede"]) == set(HOFSTEDE_DIMENSIONS)
    out = stage / "build" / "eval"
    for n in range(2, 10):
        assert len(list(out.glob(f"table{n}_*.csv"))) == 1
    report = (out / "report.md").read_text()
    assert "Table 4" in report and "for all 5 countries" in report and "| social_capital |" in report
    pngs = sorted(p.name for p in (out / "png").iterdir())
    assert pngs == ["country_profiles.png", "hofstede_heatmap_a.png", "hofstede_heatmap_b.png",
                    "hofstede_scatter_a.png", "hofstede_scatter_b.png", "wvs_categories_a.png", "wvs_categories_b.png"]
    assert (out / "plots" / "hofstede_scatter" / "a_pdi.csv").exists()
    first = {p: p.read_bytes() for p in sorted((stage / "metrics").rglob("*.json")) + sorted(out.rglob("*.*"))}
    ev.main()
    again = {p: p.read_bytes() for p in first}
    assert [p for p in first if first[p] != again[p]] == []  # byte-identical reruns, PNGs included


def test_stage_score_files_from_different_dataset_versions(stage, capsys):
    path = stage / "build" / "scores" / "b.parquet"
    pl.read_parquet(path).filter(pl.col("id") != "wvs_Q1").write_parquet(path)
    with pytest.raises(SystemExit) as exc:
        ev.main()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "b.parquet" in err and "a.parquet" in err and "different dataset versions" in err
    assert "wvs_Q1" in err


def test_stage_country_without_survey_figures(stage, capsys):
    path = stage / "build" / "survey" / "hofstede.parquet"
    pl.read_parquet(path).filter(pl.col("iso3") != "VNM").write_parquet(path)
    with pytest.raises(SystemExit):
        ev.main()
    err = capsys.readouterr().err
    assert "hofstede.parquet" in err and "VNM Vietnam (vi)" in err


def test_stage_survey_table_failing_its_schema(stage, capsys):
    path = stage / "build" / "survey" / "wvs_means.parquet"
    pl.read_parquet(path).with_columns(pl.col("mean") + 100).write_parquet(path)
    with pytest.raises(SystemExit):
        ev.main()
    err = capsys.readouterr().err
    assert "wvs_means.parquet" in err and "mean_in_scale" in err


def test_stage_score_file_failing_its_contract(stage, capsys):
    path = stage / "build" / "scores" / "a.parquet"
    pl.read_parquet(path).drop("labels_collide").write_parquet(path)
    with pytest.raises(SystemExit):
        ev.main()
    assert "a.parquet: missing column(s) labels_collide" in capsys.readouterr().err
    pl.read_parquet(stage / "build" / "scores" / "b.parquet").with_columns(pl.lit("lpq").alias("survey")).write_parquet(path)
    with pytest.raises(SystemExit):
        ev.main()
    err = capsys.readouterr().err
    assert "a.parquet" in err and "'survey'" in err and "isin" in err


# ---------------------------------------------------------------- DVC: repro, commit, change, metrics diff

COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "build", ".dvc/cache", ".dvc/tmp", "__pycache__", ".pytest_cache",
                                     "dvc_plots", "benchmarks", "metrics")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org", "DVC_NO_ANALYTICS": "1", "PYTHONPATH": ""}
    return env


def _run(repo: Path, *cmd: str) -> str:
    exe = str(Path(sys.executable).parent / cmd[0]) if cmd[0] == "dvc" else cmd[0]
    done = subprocess.run([exe, *cmd[1:]], cwd=repo, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_dvc_repro_then_metrics_diff_lists_changed_hofstede_keys(tmp_path, templates, surveys):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=COPY_IGNORE)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["evaluate"]["n_resamples"] = 199  # fast; the statistics are tested above
    params["score"]["models"] = {"a": {"name": "tiny-a", "revision": "main"}, "b": {"name": "tiny-b", "revision": "main"}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    langs = ["en", "de", "tr", "vi", "ko", "ro", "id"]

    def write_scores(noise_seed: int) -> None:
        (repo / "build" / "scores").mkdir(parents=True, exist_ok=True)
        for seed, key in enumerate(("a", "b")):
            fake_scores(templates, *surveys, langs, seed=seed + noise_seed, noise=0.4).write_parquet(
                repo / "build" / "scores" / f"{key}.parquet")

    _run(repo, "git", "init", "-q")
    write_scores(0)
    # --single-item: only these stages; the score stage's real models are not needed here.
    for stage in ("templates", "survey", "evaluate"):
        _run(repo, "dvc", "repro", "--single-item", stage)
    shown = json.loads(_run(repo, "dvc", "metrics", "show", "--json"))
    files = next(iter(shown.values()))["data"]
    assert {"metrics/models/a.json", "metrics/models/b.json", "metrics/agreement.json"} <= set(files)
    assert "rho" in files["metrics/models/a.json"]["data"]["hofstede"]["pdi"]
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-qm", "baseline")

    write_scores(100)  # new scores (as after changing score.multi_token or a model revision)
    _run(repo, "dvc", "repro", "--single-item", "evaluate")
    diff = json.loads(_run(repo, "dvc", "metrics", "diff", "--json"))
    changed = [k for k in diff.get("metrics/models/a.json", {}) if k.startswith("hofstede.")]
    assert any(k.endswith(".rho") for k in changed), diff
    assert any(k.startswith("a_vs_b.") for k in diff.get("metrics/agreement.json", {}))
    plots = json.loads(_run(repo, "dvc", "plots", "show", "--json"))["data"]
    assert "build/eval/plots/hofstede_scatter/a_pdi.csv" in plots
    assert "build/eval/png/hofstede_heatmap_a.png" in plots
    assert plots["build/eval/plots/country_profiles/DEU.csv"][0]["type"] == "vega"
