"""Stage `dataset`: assemble, validate and write the Hub-ready dataset folder and its metrics."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.align import OUT_DIR as ALIGN_DIR
from pipeline.common import MASK, ROOT, cli, read_parquet, rel, validate, write_json, write_parquet, write_text
from pipeline.params import SOURCE_LANGUAGE, all_languages, registry
from pipeline.templates import OUT_DIR as TEMPLATES_DIR
from pipeline.translate import OUT_DIR as TRANSLATE_DIR
from pipeline.translate import load_templates
from schemas.probes import AlignedRow, ProbeRow
from schemas.templates import SURVEYS, ExcludedRow
from schemas.translations import TranslatedRow

HUB_DIR = ROOT / "build" / "hub"
METRICS_FILE = ROOT / "metrics" / "dataset.json"
COLUMNS = ["id", "survey", "question", "category", "language", "country", "probe", "label_high", "label_low",
           "probe_en", "label_high_en", "label_low_en", "scale_min", "scale_max", "translation_source",
           "align_method", "mask_attached"]


def english_rows(templates: pl.DataFrame) -> pl.DataFrame:
    """The source-language config: the templates themselves."""
    return templates.with_columns(
        pl.lit(SOURCE_LANGUAGE).alias("language"),
        pl.lit("source").alias("translation_source"),
        pl.lit("source").alias("align_method"),
        pl.lit(False).alias("mask_attached"),
    )


def language_rows(templates: pl.DataFrame, translated: pl.DataFrame, aligned: pl.DataFrame) -> pl.DataFrame:
    """One target language's rows: English metadata joined with its aligned probe."""
    meta = templates.drop("probe", "label_high", "label_low")
    return (
        meta.join(aligned, on="id", how="left", maintain_order="left")
        .join(translated.select("id", "translation_source"), on="id", how="left", maintain_order="left")
    )


def assemble(templates: pl.DataFrame, per_language: dict[str, tuple[pl.DataFrame, pl.DataFrame]]) -> pl.DataFrame:
    """All languages' rows in the published column order, validated against ProbeRow."""
    en = templates.select("id", pl.col("probe").alias("probe_en"), pl.col("label_high").alias("label_high_en"),
                          pl.col("label_low").alias("label_low_en"))
    parts = [english_rows(templates)]
    for translated, aligned in per_language.values():
        parts.append(language_rows(templates, translated, aligned))
    iso3 = {k: v["iso3"] for k, v in registry().items()}
    df = (
        pl.concat(parts, how="diagonal_relaxed")
        .join(en, on="id", how="left", maintain_order="left")
        .with_columns(pl.col("language").replace_strict(iso3, default=None, return_dtype=pl.String).alias("country"))
        .select(COLUMNS)
    )
    return validate(df, ProbeRow, "dataset")


def translation_qa(translated: pl.DataFrame, aligned: pl.DataFrame) -> dict[str, int]:
    """QA counts for one language: rows checked, and rows whose probe, filled with each label, gives back the translator's sentence."""
    both = aligned.join(translated, on="id", how="inner")
    refill = lambda lab: pl.col("probe").str.replace(MASK, lab, literal=True)  # noqa: E731
    same = both.filter((refill(pl.col("label_high")) == pl.col("text_high")) & (refill(pl.col("label_low")) == pl.col("text_low")))
    # Script, NFC, untranslated-sentence and distinct-label checks are schema checks: a failure stops
    # the pipeline, so reaching this point means every row passed them.
    return {"rows_checked": both.height, "fills_reproduced": same.height, "schema_failures": 0}


def dataset_metrics(df: pl.DataFrame, excluded: pl.DataFrame, qa: dict[str, dict[str, int]] | None = None) -> dict[str, Any]:
    """Row counts, align-method counts and shares, attachments, QA and exclusions, per language."""
    out: dict[str, Any] = {"languages": df["language"].n_unique(), "rows_total": df.height, "per_language": {}}
    for lang in df["language"].unique(maintain_order=True):
        sub = df.filter(pl.col("language") == lang)
        methods = dict(sub.group_by("align_method").len().sort("align_method").iter_rows())
        out["per_language"][lang] = {
            "rows": {s: sub.filter(pl.col("survey") == s).height for s in SURVEYS} | {"total": sub.height},
            "align_methods": methods,
            "align_shares": {m: round(n / sub.height, 4) for m, n in methods.items()},
            "mask_attached": int(sub["mask_attached"].sum()),
            "translation_sources": dict(sub.group_by("translation_source").len().sort("translation_source").iter_rows()),
        }
        if qa and lang in qa:
            out["per_language"][lang]["qa"] = qa[lang]
    out["excluded"] = {s: excluded.filter(pl.col("survey") == s).height for s in SURVEYS}
    out["checks"] = {"schema": "ProbeRow", "failed_rows": 0, "passed": True}
    return out


def write_hub(df: pl.DataFrame, hub_dir: Path, card: str) -> None:
    """Parquet per (language, survey) plus the card; the folder is rebuilt from scratch."""
    if hub_dir.exists():
        shutil.rmtree(hub_dir)
    for lang in df["language"].unique(maintain_order=True):
        for survey in SURVEYS:
            part = df.filter((pl.col("language") == lang) & (pl.col("survey") == survey))
            write_parquet(part, hub_dir / "data" / lang / f"{survey}.parquet")
    write_text(card, hub_dir / "README.md")


@cli
def main() -> None:
    from pipeline.card import render_card

    langs = all_languages()
    templates = load_templates()
    excluded = validate(read_parquet(TEMPLATES_DIR / "excluded.parquet"), ExcludedRow, TEMPLATES_DIR / "excluded.parquet", key="question")
    per_language = {}
    for lang in langs[1:]:
        tp, ap = TRANSLATE_DIR / f"{lang}.parquet", ALIGN_DIR / f"{lang}.parquet"
        per_language[lang] = (validate(read_parquet(tp), TranslatedRow, tp), validate(read_parquet(ap), AlignedRow, ap))
    df = assemble(templates, per_language)
    qa = {lang: translation_qa(*pair) for lang, pair in per_language.items()}
    metrics = dataset_metrics(df, excluded, qa)
    write_hub(df, HUB_DIR, render_card(df, metrics, excluded))
    write_json(metrics, METRICS_FILE)
    print(f"dataset: {df.height} rows in {len(langs)} configs ({', '.join(langs)}) -> {rel(HUB_DIR)}")


if __name__ == "__main__":
    main()
