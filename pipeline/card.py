"""The dataset card (build/hub/README.md): Hub metadata header plus documentation."""

from __future__ import annotations

from typing import Any

import polars as pl
import yaml

from pipeline.params import registry
from schemas.templates import SURVEYS

COLUMN_DOCS = {
    "id": "probe id, `<survey>_<item>` (bipolar WVS items split into `a`/`b`; paraphrases `_v<n>`); identical in every language",
    "survey": "`hofstede` (VSM 2013) or `wvs` (World Values Survey wave 7)",
    "question": "source item id (`01`-`24` for VSM 2013, `Q1`-`Q259` for WVS-7)",
    "category": "Hofstede dimension (pdi, idv, mas, uai, lto, ivr) or WVS-7 thematic category",
    "language": "ISO 639-1 code of the probe's language",
    "country": "ISO 3166-1 alpha-3 code of the country the language stands for (null for `en`)",
    "probe": "the cloze sentence with exactly one `[MASK]`",
    "label_high": "the word for the item's highest answer code (`scale_max`), as it stands in the sentence",
    "label_low": "the word for the item's lowest answer code (`scale_min`), as it stands in the sentence",
    "probe_en": "the English source probe",
    "label_high_en": "the English `label_high`",
    "label_low_en": "the English `label_low`",
    "scale_min": "lowest answer code of the survey item",
    "scale_max": "highest answer code of the survey item",
    "translation_source": "`source` (English), `curated` (hand-written translation memory) or the machine backend that filled it",
    "align_method": "how the mask was placed: source, override, contrastive, exact, normalized or simalign",
    "mask_attached": "true where the mask touches a suffix of its word (e.g. Turkish `[MASK]dir`)",
}


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def card_metadata(languages: list[str], n_rows: int) -> dict[str, Any]:
    """The card's YAML header: one config per language plus `all`, splits hofstede and wvs."""
    configs = [
        {"config_name": lang, "data_files": [{"split": s, "path": f"data/{lang}/{s}.parquet"} for s in SURVEYS]}
        for lang in languages
    ]
    configs.append({"config_name": "all", "data_files": [{"split": s, "path": f"data/*/{s}.parquet"} for s in SURVEYS]})
    return {
        "pretty_name": "value-probes: multilingual cloze probes of cultural values",
        "language": languages,
        "license": "cc-by-4.0",
        "multilinguality": "multilingual",
        "size_categories": [_size_category(n_rows)],
        "task_categories": ["fill-mask"],
        "tags": ["cultural-values", "probing", "hofstede", "world-values-survey"],
        "configs": configs,
    }


def render_card(df: pl.DataFrame, metrics: dict[str, Any], excluded: pl.DataFrame) -> str:
    """The whole card as Markdown with a YAML header."""
    langs = df["language"].unique(maintain_order=True).to_list()
    header = yaml.safe_dump(card_metadata(langs, df.height), sort_keys=False, allow_unicode=True)
    reg = registry()
    lines = [f"---\n{header}---", "", "# value-probes", "",
             "Cloze probes of cultural values in " + str(len(langs)) + " languages, built from Hofstede's Values Survey "
             "Module 2013 (24 items, 6 dimensions) and the World Values Survey wave 7 (items Q1-Q259). Each probe is a "
             "sentence with one `[MASK]` and two labels: the word for the top and for the bottom of the item's answer scale. "
             "A masked language model's preference between the labels is compared with what people in the language's "
             "country answered.", "",
             "```python", "from datasets import load_dataset", "",
             f'probes = load_dataset("<org>/value-probes", "{langs[-1]}", split="wvs")', "```", "",
             "## How it was built", "",
             "English templates written for the project -> a hand-curated translation memory (each probe filled with "
             "each label, and each label alone) -> the mask placed on the translated label (manual override, contrastive "
             "diff of the two fills, exact or case-normalised match of the translated label, word alignment) -> pandera "
             "schema validation of every row.", "",
             "## Configs and counts", "",
             "| config | language | country | hofstede | wvs | align methods |", "|---|---|---|---|---|---|"]
    for lang in langs:
        m = metrics["per_language"][lang]
        methods = ", ".join(f"{k} {v:.0%}" for k, v in m["align_shares"].items())
        lines.append(f"| `{lang}` | {reg[lang]['name']} | {reg[lang]['country'] or '-'} | {m['rows']['hofstede']} | "
                     f"{m['rows']['wvs']} | {methods} |")
    lines += ["| `all` | every language above | | | | |", "", "## Columns", "", "| column | meaning |", "|---|---|"]
    lines += [f"| `{c}` | {d} |" for c, d in COLUMN_DOCS.items()]
    lines += ["", "## Survey items that are not probes", ""]
    lines += [f"- {r['survey']} {r['question']}: {r['reason']}" for r in excluded.iter_rows(named=True)]
    lines += ["", "## Sources and terms", "",
              "- Hofstede, G., & Minkov, M. (2013). *Values Survey Module 2013 Manual*. Probes paraphrase the items; "
              "the questionnaire itself is not reproduced.",
              "- Haerpfer, C., Inglehart, R., et al. (2022). *World Values Survey: Round Seven, Country-Pooled Datafile "
              "Version 6.0*. JD Systems Institute & WVSA Secretariat. No WVS data are redistributed here.",
              "", "## Known limitations", "",
              "- One country stands for each language (e.g. `de` = Germany), though languages cross borders.",
              "- Two-label cloze probes flatten 4- to 10-point answer scales to their two ends.",
              "", "## Citation", "",
              "Builds on: Arora, A., Kaffee, L.-A., & Augenstein, I. (2023). Probing Pre-Trained Language Models for "
              "Cross-Cultural Differences in Values. *Proceedings of the First Workshop on Cross-Cultural "
              "Considerations in NLP (C3NLP)*.", ""]
    return "\n".join(lines)
