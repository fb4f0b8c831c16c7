"""Stage `templates`: probes/templates/{hofstede,wvs}.yaml -> validated English probe table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pipeline.common import ROOT, PipelineError, cli, load_yaml, rel, validate, write_parquet
from schemas.templates import SURVEYS, ExcludedRow, TemplateRow

TEMPLATE_DIR = ROOT / "probes" / "templates"
OUT_DIR = ROOT / "build" / "templates"
ITEM_KEYS = {"id", "question", "category", "probe", "label_high", "label_low", "scale_min", "scale_max", "variants"}
REQUIRED_KEYS = ITEM_KEYS - {"variants"}


def parse_template(doc: Any, path: Path) -> tuple[list[dict], list[dict]]:
    """Rows (one per probe, variants included) and exclusions of one template file."""
    if not isinstance(doc, dict) or doc.get("survey") not in SURVEYS or not isinstance(doc.get("items"), list):
        raise PipelineError(f"{path}: expected keys `survey:` ({' or '.join(SURVEYS)}) and `items:` (a list)")
    survey = doc["survey"]
    rows, problems = [], []
    for n, item in enumerate(doc["items"], start=1):
        label = f"item {n}" + (f" (id={item.get('id')})" if isinstance(item, dict) and item.get("id") else "")
        if not isinstance(item, dict):
            problems.append(f"{label}: expected a mapping")
            continue
        missing = sorted(REQUIRED_KEYS - item.keys())
        unknown = sorted(item.keys() - ITEM_KEYS)
        if missing or unknown:
            problems.append(f"{label}: " + "; ".join(
                ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown keys {', '.join(unknown)}"] if unknown else [])))
            continue
        base = {
            "id": str(item["id"]), "survey": survey, "question": str(item["question"]),
            "category": str(item["category"]), "probe": str(item["probe"]),
            "label_high": str(item["label_high"]), "label_low": str(item["label_low"]),
            "scale_min": item["scale_min"], "scale_max": item["scale_max"],
        }
        if not all(isinstance(base[k], int) and not isinstance(base[k], bool) for k in ("scale_min", "scale_max")):
            problems.append(f"{label}: scale_min and scale_max must be integers")
            continue
        rows.append(base)
        for v, variant in enumerate(item.get("variants") or [], start=1):
            rows.append({**base, "id": f"{base['id']}_v{v}", "probe": str(variant)})
    if problems:
        raise PipelineError(f"{path}: {len(problems)} malformed item(s):\n  - " + "\n  - ".join(problems))
    excluded = [
        {"survey": survey, "question": str(e.get("question")), "reason": str(e.get("reason") or "")}
        for e in (doc.get("excluded") or [])
        if isinstance(e, dict)
    ]
    return rows, excluded


def build_templates(paths: list[Path]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validated English probes and exclusions from the template files."""
    rows, excluded = [], []
    for path in paths:
        r, e = parse_template(load_yaml(path), path)
        rows += r
        excluded += e
    schema = {"id": pl.String, "survey": pl.String, "question": pl.String, "category": pl.String,
              "probe": pl.String, "label_high": pl.String, "label_low": pl.String,
              "scale_min": pl.Int64, "scale_max": pl.Int64}
    probes = pl.DataFrame(rows, schema=schema, orient="row")
    where = " + ".join(rel(p) for p in paths)
    probes = validate(probes, TemplateRow, where)
    overlap = set(probes["question"]) & {e["question"] for e in excluded}
    if overlap:
        raise PipelineError(f"{where}: question(s) both probed and excluded: {', '.join(sorted(overlap))}; keep one")
    excl = pl.DataFrame(excluded, schema={"survey": pl.String, "question": pl.String, "reason": pl.String}, orient="row")
    excl = validate(excl, ExcludedRow, where, key="question")
    return probes, excl


def fill(probe: str, label: str) -> str:
    """The probe with its mask replaced by a label."""
    return probe.replace("[MASK]", label, 1)


@cli
def main() -> None:
    paths = [TEMPLATE_DIR / f"{s}.yaml" for s in SURVEYS]
    probes, excluded = build_templates(paths)
    write_parquet(probes, OUT_DIR / "probes.parquet")
    write_parquet(excluded, OUT_DIR / "excluded.parquet")
    print(f"templates: {probes.height} English probes "
          f"({', '.join(f'{s}={n}' for s, n in probes.group_by('survey').len().sort('survey').iter_rows())}), "
          f"{excluded.height} items excluded")


if __name__ == "__main__":
    main()
