"""Stage `translate@<lang>`: look every needed sentence up in the translation memory.

The sentences are each English probe filled with label_high and with label_low (so the
translated label agrees with its context) and each label alone. The memory
probes/translations/<lang>.tsv is hand-curated; machine backends fill gaps only through
`python -m pipeline.fill_memory`, never here.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import polars as pl

from pipeline.common import ROOT, PipelineError, cli, read_parquet, validate, write_parquet
from pipeline.params import SOURCE_LANGUAGE, check_language
from pipeline.templates import OUT_DIR as TEMPLATES_DIR
from pipeline.templates import fill
from schemas.templates import TemplateRow
from schemas.translations import MemoryRow, TranslatedRow

MEMORY_DIR = ROOT / "probes" / "translations"
OUT_DIR = ROOT / "build" / "translate"
HEADER = ["source", "target", "provenance"]
KINDS = ("high", "low", "label_high", "label_low")


def memory_path(lang: str) -> Path:
    """Where a language's translation memory lives."""
    return MEMORY_DIR / f"{lang}.tsv"


def needed_sentences(templates: pl.DataFrame) -> pl.DataFrame:
    """Every English sentence a translation must exist for: (id, kind, source), in template order."""
    rows = []
    for r in templates.iter_rows(named=True):
        rows += [
            (r["id"], "high", fill(r["probe"], r["label_high"])),
            (r["id"], "low", fill(r["probe"], r["label_low"])),
            (r["id"], "label_high", r["label_high"]),
            (r["id"], "label_low", r["label_low"]),
        ]
    return pl.DataFrame(rows, schema={"id": pl.String, "kind": pl.String, "source": pl.String}, orient="row")


def read_memory(path: Path, lang: str) -> pl.DataFrame:
    """Parse and validate a TSV translation memory; malformed lines are reported all at once."""
    if not path.exists():
        raise PipelineError(
            f"{path}: no translation memory for {lang!r}. Create it with the header "
            f"`{chr(9).join(HEADER)}` (run `python -m pipeline.translate {lang} --todo` to list the sentences)."
        )
    rows, problems = [], []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        for n, fields in enumerate(reader, start=1):
            if n == 1:
                if fields != HEADER:
                    problems.append(f"line 1: header must be {HEADER}, found {fields}")
                continue
            if not fields or fields == [""]:
                continue
            if len(fields) != 3:
                problems.append(f"line {n}: expected 3 tab-separated fields (source, target, provenance), found {len(fields)}")
                continue
            rows.append((n, lang, *fields))
    if problems:
        raise PipelineError(f"{path}: malformed TSV:\n  - " + "\n  - ".join(problems[:100]))
    df = pl.DataFrame(rows, schema={"line": pl.Int64, "language": pl.String, "source": pl.String,
                                    "target": pl.String, "provenance": pl.String}, orient="row")
    try:
        return validate(df, MemoryRow, path, key="line")
    except PipelineError as err:
        raise PipelineError(str(err).replace("(line=", "(TSV line ")) from None


def translate(templates: pl.DataFrame, memory: pl.DataFrame, lang: str, path: Path) -> pl.DataFrame:
    """Translated fills and labels for every probe; a miss or a stale memory row is an error."""
    needed = needed_sentences(templates)
    joined = needed.join(memory.select("source", "target", "provenance"), on="source", how="left", maintain_order="left")
    missing = joined.filter(pl.col("target").is_null())
    if missing.height:
        listing = "\n".join(f"  {r['id']} ({r['kind']}): {r['source']}" for r in missing.unique("source", maintain_order=True).iter_rows(named=True))
        raise PipelineError(
            f"{path}: {missing['source'].n_unique()} sentence(s) missing for {lang!r}. Add a line "
            f"`<source>\\t<translation>\\tcurated` for each (or fill them with `python -m pipeline.fill_memory {lang}`):\n{listing}"
        )
    stale = memory.filter(~pl.col("source").is_in(needed["source"].implode()))
    if stale.height:
        listing = "\n".join(f"  line {r['line']}: {r['source']}" for r in stale.iter_rows(named=True))
        raise PipelineError(
            f"{path}: {stale.height} stale row(s) whose English source no template produces "
            f"(a template changed?). Delete them or update their source:\n{listing}"
        )
    wide = joined.pivot(on="kind", index="id", values=["source", "target", "provenance"], aggregate_function="first")
    wide = templates.select("id").join(wide, on="id", how="left", maintain_order="left")
    prov = pl.concat_list([pl.col(f"provenance_{k}") for k in KINDS]).list.unique().list.sort().list.join("+")
    out = wide.select(
        "id",
        pl.lit(lang).alias("language"),
        pl.col("source_high"), pl.col("source_low"),
        pl.col("target_high").alias("text_high"), pl.col("target_low").alias("text_low"),
        pl.col("target_label_high").alias("label_high_alone"), pl.col("target_label_low").alias("label_low_alone"),
        prov.alias("translation_source"),
    )
    return validate(out, TranslatedRow, path)


def source_table(templates: pl.DataFrame) -> pl.DataFrame:
    """The English 'translation' of the templates: the fills and labels themselves."""
    return templates.select(
        "id", pl.lit(SOURCE_LANGUAGE).alias("language"),
        pl.col("probe").str.replace("[MASK]", pl.col("label_high"), literal=True).alias("source_high"),
        pl.col("probe").str.replace("[MASK]", pl.col("label_low"), literal=True).alias("source_low"),
        pl.col("probe").str.replace("[MASK]", pl.col("label_high"), literal=True).alias("text_high"),
        pl.col("probe").str.replace("[MASK]", pl.col("label_low"), literal=True).alias("text_low"),
        pl.col("label_high").alias("label_high_alone"), pl.col("label_low").alias("label_low_alone"),
        pl.lit("source").alias("translation_source"),
    )


def todo(templates: pl.DataFrame, memory: pl.DataFrame | None) -> list[str]:
    """English sentences not yet in the memory, in template order, without repeats."""
    needed = needed_sentences(templates).unique("source", maintain_order=True)
    if memory is not None:
        needed = needed.filter(~pl.col("source").is_in(memory["source"].implode()))
    return needed["source"].to_list()


def load_templates() -> pl.DataFrame:
    """The validated English probe table from the templates stage."""
    path = TEMPLATES_DIR / "probes.parquet"
    return validate(read_parquet(path), TemplateRow, path)


@cli
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lang")
    ap.add_argument("--todo", action="store_true", help="print the sentences the memory still lacks, as TSV rows")
    args = ap.parse_args(argv)
    check_language(args.lang, where="translate")
    templates = load_templates()
    if args.lang == SOURCE_LANGUAGE:
        write_parquet(source_table(templates), OUT_DIR / f"{args.lang}.parquet")
        return
    path = memory_path(args.lang)
    if args.todo:
        memory = read_memory(path, args.lang) if path.exists() else None
        for s in todo(templates, memory):
            print(f"{s}\t\tcurated")
        return
    out = translate(templates, read_memory(path, args.lang), args.lang, path)
    write_parquet(out, OUT_DIR / f"{args.lang}.parquet")
    print(f"translate@{args.lang}: {out.height} probes, sources: "
          + ", ".join(f"{s}={n}" for s, n in out.group_by("translation_source").len().sort("translation_source").iter_rows()))


if __name__ == "__main__":
    main()
