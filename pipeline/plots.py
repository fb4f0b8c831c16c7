"""Plot data for `dvc plots` (CSV under build/eval/plots/) and the same views as deterministic PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from pipeline.common import write_csv, write_with  # noqa: E402
from schemas.templates import HOFSTEDE_DIMENSIONS  # noqa: E402

PNG_META = {"Software": None}  # no version/timestamp chunks: identical runs give identical bytes
plt.rcParams.update({"figure.dpi": 100, "font.size": 9, "svg.hashsalt": "value-probes"})


def minmax(col: str, over: list[str]) -> pl.Expr:
    """Min-max normalisation of `col` within groups; null where the group is constant."""
    lo, hi = pl.col(col).min().over(over), pl.col(col).max().over(over)
    return pl.when(hi > lo).then((pl.col(col) - lo) / (hi - lo)).otherwise(None)



def save(fig: plt.Figure, path: Path) -> None:
    """Write a figure as PNG atomically, without metadata that varies between runs."""
    write_with(path, lambda p: fig.savefig(p, format="png", metadata=PNG_META))
    plt.close(fig)


def profiles(results: dict[str, Any], pub: pl.DataFrame) -> pl.DataFrame:
    """Indices per (source, country, dimension), min-max normalised across countries; source = model or published."""
    countries = next(iter(results.values()))["countries"]
    frames = [res["score"]["indices"].select(pl.lit(k).alias("source"), "country", "dimension", "value")
              for k, res in results.items()]
    frames.append(pub.filter(pl.col("country").is_in(countries))
                  .select(pl.lit("published").alias("source"), "country", "dimension", pl.col("published").alias("value")))
    return (pl.concat(frames).with_columns(minmax("value", ["source", "dimension"]).alias("normalised"))
            .sort("country", "source", "dimension"))


def plot_data(results: dict[str, Any], pub: pl.DataFrame, out: Path) -> None:
    """CSV files the dvc.yaml `plots:` section renders (one plot per file)."""
    for key, res in results.items():
        idx = res["score"]["indices"]
        write_csv(idx.select(pl.format("{} {}", "country", "dimension").alias("label"), "country", "dimension",
                             pl.col("value").alias("index")).sort("country", "dimension"),
                  out / "hofstede_indices" / f"{key}.csv")
        both = idx.join(pub, on=["country", "dimension"])
        for dim in HOFSTEDE_DIMENSIONS:
            write_csv(both.filter(pl.col("dimension") == dim)
                      .select("country", "published", pl.col("value").alias("predicted")).sort("country"),
                      out / "hofstede_scatter" / f"{key}_{dim}.csv")
        write_csv(res["score"]["categories"].select(pl.format("{} {}", "country", "category").alias("label"),
                                                    "country", "category", "n_items",
                                                    pl.col("model").alias("model_score"),
                                                    pl.col("survey").alias("survey_score")).sort("country", "category"),
                  out / "wvs_categories" / f"{key}.csv")
    prof = profiles(results, pub)
    for (country,), sub in prof.group_by("country", maintain_order=True):
        write_csv(sub.select(pl.format("{} {}", "source", "dimension").alias("label"), "source", "dimension",
                             "normalised"), out / "country_profiles" / f"{country}.csv")


def cell_text(value: float, fmt: str) -> str:
    """A heatmap cell's number; a value that rounds to zero shows as 0, not -0."""
    text = format(value, fmt)
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def heatmap(ax: plt.Axes, values: np.ndarray, colours: np.ndarray, rows: list[str], cols: list[str], fmt: str) -> None:
    """Annotated heatmap; colours are given separately so each column can be scaled on its own."""
    ax.imshow(np.ma.masked_invalid(colours), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for i in range(len(rows)):
        for j in range(len(cols)):
            v, c = values[i, j], colours[i, j]
            text = "–" if np.isnan(v) else cell_text(v, fmt)
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="black" if not np.isnan(c) and c > 0.6 else "white")


def column_scaled(values: np.ndarray) -> np.ndarray:
    """Each column min-max scaled to [0, 1] (nan where a column is constant or missing)."""
    lo, hi = np.nanmin(values, axis=0, initial=np.inf), np.nanmax(values, axis=0, initial=-np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(hi > lo, (values - lo) / (hi - lo), np.nan)


def matrix(df: pl.DataFrame, row: str, col: str, value: str, rows: list[str], cols: list[str]) -> np.ndarray:
    """A (rows x cols) float array from long data; nan where absent."""
    lookup = {(r, c): v for r, c, v in df.select(row, col, value).iter_rows()}
    return np.array([[np.nan if lookup.get((r, c)) is None else lookup[(r, c)] for c in cols] for r in rows], dtype=float)


def png_heatmap(key: str, res: dict[str, Any], path: Path) -> None:
    """Predicted Hofstede indices, country x dimension."""
    countries, dims = res["countries"], list(HOFSTEDE_DIMENSIONS)
    vals = matrix(res["score"]["indices"], "country", "dimension", "value", countries, dims)
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(countries) + 1.6))
    heatmap(ax, vals, column_scaled(vals), countries, [d.upper() for d in dims], ".0f")
    ax.set_title(f"{key}: predicted Hofstede indices (VSM 2013, C = 0)\ncolour: min-max within each dimension")
    fig.tight_layout()
    save(fig, path)


def png_scatter(key: str, res: dict[str, Any], pub: pl.DataFrame, path: Path) -> None:
    """Model index vs published score, one panel per dimension, countries labelled."""
    both = res["score"]["indices"].join(pub, on=["country", "dimension"])
    stats = {r["dimension"]: r for r in res["score"]["hofstede"]}
    fig, axes = plt.subplots(2, 3, figsize=(11, 6.5))
    for ax, dim in zip(axes.flat, HOFSTEDE_DIMENSIONS):
        sub = both.filter(pl.col("dimension") == dim).drop_nulls("value").sort("country")
        ax.scatter(sub["published"], sub["value"], s=18)
        for c, x, y in sub.select("country", "published", "value").iter_rows():
            ax.annotate(c, (x, y), fontsize=7, xytext=(3, 2), textcoords="offset points")
        s = stats[dim]
        rho = "–" if s["rho"] is None else f"{s['rho']:.2f}"
        ci = "" if s["ci_low"] is None else f" [{s['ci_low']:.2f}, {s['ci_high']:.2f}]"
        pp = "" if s["p_perm"] is None else f", p_perm {s['p_perm']:.3f}"
        ax.set_title(f"{dim.upper()}: rho {rho}{ci}{pp}", fontsize=9)
        ax.set_xlabel("published score")
        ax.set_ylabel("model index")
    fig.suptitle(f"{key}: model vs published Hofstede scores")
    fig.tight_layout()
    save(fig, path)


def png_wvs(key: str, res: dict[str, Any], path: Path) -> None:
    """WVS category scores per country: model (min-max per category) beside survey ([0, 1])."""
    cats_df, countries = res["score"]["categories"], res["countries"]
    cats = sorted(set(cats_df["category"]))
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.1 * len(cats) + 4), 0.35 * len(countries) + 2.2))
    if not cats:
        for ax in axes:
            ax.axis("off")
        axes[0].text(0, 0.5, "no WVS category has survey figures for every compared country", fontsize=10)
    else:
        n_items = dict(cats_df.select("category", "n_items").unique().iter_rows())
        labels = [f"{c} ({n_items[c]})" for c in cats]
        model = matrix(cats_df, "country", "category", "model", countries, cats)
        survey = matrix(cats_df, "country", "category", "survey", countries, cats)
        heatmap(axes[0], model, column_scaled(model), countries, labels, ".2f")
        axes[0].set_title("model score (lp_high - lp_low)\ncolour: min-max within category")
        heatmap(axes[1], survey, survey, countries, labels, ".2f")
        axes[1].set_title("survey mean, normalised to [0, 1]\n1 = top answer code")
    fig.suptitle(f"{key}: WVS category scores (n items with figures for all countries)")
    fig.tight_layout()
    save(fig, path)


def png_profiles(results: dict[str, Any], pub: pl.DataFrame, path: Path) -> None:
    """Per country: each model's six indices and the published scores, min-max normalised across countries."""
    prof = profiles(results, pub)
    countries = next(iter(results.values()))["countries"]
    sources = [*results, "published"]
    ncols = min(4, max(1, len(countries)))
    nrows = max(1, -(-len(countries) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows + 0.8), squeeze=False, sharey=True)
    width = 0.8 / len(sources)
    x = np.arange(len(HOFSTEDE_DIMENSIONS))
    for ax, country in zip(axes.flat, countries):
        vals = matrix(prof.filter(pl.col("country") == country), "source", "dimension", "normalised",
                      sources, list(HOFSTEDE_DIMENSIONS))
        for k, src in enumerate(sources):
            ax.bar(x + (k - (len(sources) - 1) / 2) * width, np.nan_to_num(vals[k], nan=0.0), width,
                   label=src, color="black" if src == "published" else f"C{k}")
        ax.set_xticks(x, [d.upper() for d in HOFSTEDE_DIMENSIONS], fontsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_title(country, fontsize=9)
    spare = list(axes.flat)[len(countries):]
    for ax in spare:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    note = "0 = lowest country, 1 = highest"
    if spare:
        spare[0].legend(handles, labels, loc="center", fontsize=8, title=note, title_fontsize=8)
    else:
        fig.legend(handles, labels, loc="upper right", fontsize=7, title=note, title_fontsize=7)
    fig.suptitle("Hofstede dimension scores per country, min-max normalised across countries (per model and dimension)")
    fig.tight_layout()
    save(fig, path)


def write_plots(results: dict[str, Any], pub: pl.DataFrame, data_dir: Path, png_dir: Path) -> None:
    """All plot data and PNGs."""
    plot_data(results, pub, data_dir)
    for key, res in results.items():
        png_heatmap(key, res, png_dir / f"hofstede_heatmap_{key}.png")
        png_scatter(key, res, pub, png_dir / f"hofstede_scatter_{key}.png")
        png_wvs(key, res, png_dir / f"wvs_categories_{key}.png")
    png_profiles(results, pub, png_dir / "country_profiles.png")
