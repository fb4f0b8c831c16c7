"""The dataset card (build/hub/README.md): Hub metadata header plus documentation."""

from __future__ import annotations

from typing import Any

import polars as pl
import yaml

from pipeline.common import PipelineError
from pipeline.params import registry, section
from schemas.probes import ALIGN_METHODS
from schemas.templates import SURVEYS

ALL_CONFIG = "all"
HUB_URL = "https://huggingface.co/datasets"
# Hub dtype names (the `datasets` library's Value types) of the published polars dtypes.
HUB_DTYPES = {pl.String: "string", pl.Int64: "int64", pl.Boolean: "bool"}
# Translation sources a person wrote; anything else is a machine backend's name.
HUMAN_SOURCES = ("source", "curated")

COLUMN_DOCS = {
    "id": "probe id, `<survey>_<item>` (bipolar WVS items split into `a`/`b`; paraphrases `_v<n>`); identical in every language",
    "survey": "`hofstede` (VSM 2013) or `wvs` (World Values Survey wave 7); also the split name",
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
    "align_method": "how the mask was placed: source (English), override, contrastive, exact, normalized or simalign",
    "mask_attached": "true where the mask touches a suffix of its word (e.g. Turkish `[MASK]dir`)",
}

BIBTEX = r"""@misc{{value_probes,
  title        = {{value-probes: multilingual cloze probes of cultural values}},
  author       = {{{{value-probes contributors}}}},
  howpublished = {{\url{{{url}}}}},
  note         = {{Hugging Face dataset, built from Hofstede's VSM 2013 and WVS-7}}
}}

@inproceedings{{arora-etal-2023-probing,
  title     = {{Probing Pre-Trained Language Models for Cross-Cultural Differences in Values}},
  author    = {{Arora, Arnav and Kaffee, Lucie-Aim{{\'e}}e and Augenstein, Isabelle}},
  booktitle = {{Proceedings of the First Workshop on Cross-Cultural Considerations in NLP (C3NLP)}},
  year      = {{2023}},
  address   = {{Dubrovnik, Croatia}},
  publisher = {{Association for Computational Linguistics}},
  pages     = {{114--130}},
  doi       = {{10.18653/v1/2023.c3nlp-1.12}}
}}

@manual{{hofstede-minkov-2013-vsm,
  title  = {{Values Survey Module 2013 Manual}},
  author = {{Hofstede, Geert and Minkov, Michael}},
  year   = {{2013}},
  url    = {{https://geerthofstede.com/research-and-vsm/vsm-2013/}}
}}

@misc{{haerpfer-etal-2022-wvs7,
  title     = {{World Values Survey: Round Seven -- Country-Pooled Datafile Version 6.0}},
  author    = {{Haerpfer, Christian and Inglehart, Ronald and Moreno, Alejandro and Welzel, Christian and
               Kizilova, Kseniya and Diez-Medrano, Jaime and Lagos, Marta and Norris, Pippa and Ponarin, Eduard and
               Puranen, Bi}},
  year      = {{2022}},
  publisher = {{JD Systems Institute \& WVSA Secretariat}},
  address   = {{Madrid, Spain \& Vienna, Austria}},
  doi       = {{10.14281/18241.24}}
}}"""


def size_category(n: int) -> str:
    """The Hub's size bucket for `n` rows."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def hub_features(schema: pl.Schema) -> list[dict[str, str]]:
    """The `dataset_info` feature list of the published columns, in column order."""
    features = []
    for name, dtype in schema.items():
        if dtype not in HUB_DTYPES:
            raise PipelineError(f"dataset column {name!r} has dtype {dtype}; the card knows {sorted(map(str, HUB_DTYPES))}")
        features.append({"name": name, "dtype": HUB_DTYPES[dtype]})
    return features


def data_files(languages: list[str]) -> list[dict[str, Any]]:
    """One split per survey; several languages are listed in order, not globbed, so `all` keeps that order."""
    def paths(survey: str) -> str | list[str]:
        files = [f"data/{lang}/{survey}.parquet" for lang in languages]
        return files[0] if len(files) == 1 else files
    return [{"split": s, "path": paths(s)} for s in SURVEYS]


def arrow_bytes(df: pl.DataFrame) -> int:
    """In-memory Arrow size of rows as `datasets` holds them (strings as `string`, not `large_string`)."""
    import pyarrow as pa

    table = df.to_arrow()
    wide = (pa.types.is_large_string, pa.types.is_string_view)
    schema = pa.schema([pa.field(f.name, pa.string() if any(t(f.type) for t in wide) else f.type) for f in table.schema])
    return table.cast(schema).nbytes


def split_info(rows: dict[str, int], sizes: dict[str, int]) -> list[dict[str, Any]]:
    """The `splits` entry of one config's dataset_info: rows (checked by `datasets` on load) and bytes."""
    return [{"name": s, "num_bytes": sizes[s], "num_examples": rows[s]} for s in SURVEYS]


def card_metadata(languages: list[str], metrics: dict[str, Any], features: list[dict[str, str]],
                  sizes: dict[str, dict[str, int]], machine_translated: bool) -> dict[str, Any]:
    """The card's YAML header: one config per language plus `all` (the default), splits hofstede and wvs."""
    rows = {lang: metrics["per_language"][lang]["rows"] for lang in languages}
    configs = [{"config_name": lang, "data_files": data_files([lang])} for lang in languages]
    configs.append({"config_name": ALL_CONFIG, "default": True, "data_files": data_files(languages)})
    total = {key: {s: sum(d[lang][s] for lang in languages) for s in SURVEYS} for key, d in (("rows", rows), ("bytes", sizes))}
    # Copies of `features`, so that the YAML dump writes each list out instead of anchors and aliases.
    infos = [{"config_name": lang, "features": [dict(f) for f in features], "splits": split_info(rows[lang], sizes[lang])}
             for lang in languages]
    infos.append({"config_name": ALL_CONFIG, "features": [dict(f) for f in features],
                  "splits": split_info(total["rows"], total["bytes"])})
    return {
        "pretty_name": "value-probes: multilingual cloze probes of cultural values",
        "language": languages,
        "license": "cc-by-4.0",
        "annotations_creators": ["expert-generated"],
        "language_creators": ["expert-generated"] + (["machine-generated"] if machine_translated else []),
        "multilinguality": "multilingual" if len(languages) > 1 else "monolingual",
        "size_categories": [size_category(metrics["rows_total"])],
        "source_datasets": ["original"],
        "task_categories": ["fill-mask"],
        "task_ids": ["masked-language-modeling"],
        "tags": ["cultural-values", "probing", "hofstede", "world-values-survey"],
        "configs": configs,
        "dataset_info": infos,
    }


def counts_table(languages: list[str], metrics: dict[str, Any]) -> list[str]:
    """Rows per config and split, from metrics/dataset.json."""
    reg = registry()
    lines = ["| config | language | country | hofstede | wvs | total | translation sources |", "|---|---|---|---:|---:|---:|---|"]
    for lang in languages:
        m = metrics["per_language"][lang]
        sources = ", ".join(f"{k} {v}" for k, v in m["translation_sources"].items())
        lines.append(f"| `{lang}` | {reg[lang]['name']} | {reg[lang]['iso3'] or '-'} | {m['rows']['hofstede']} | "
                     f"{m['rows']['wvs']} | {m['rows']['total']} | {sources} |")
    total = {s: sum(metrics["per_language"][lang]["rows"][s] for lang in languages) for s in (*SURVEYS, "total")}
    lines.append(f"| `{ALL_CONFIG}` | all of the above | | {total['hofstede']} | {total['wvs']} | {total['total']} | |")
    return lines


def align_table(languages: list[str], metrics: dict[str, Any]) -> list[str]:
    """Rows per align method and language (count and share), from metrics/dataset.json."""
    used = [m for m in ALIGN_METHODS if any(m in metrics["per_language"][lang]["align_methods"] for lang in languages)]
    lines = ["| config | " + " | ".join(used) + " | mask attached | fills reproduced |", "|---|" + "---:|" * (len(used) + 2)]
    for lang in languages:
        m = metrics["per_language"][lang]
        cells = [f"{m['align_methods'][k]} ({m['align_shares'][k]:.1%})" if k in m["align_methods"] else "-" for k in used]
        qa = m.get("qa")  # the dataset stage's QA: probe refilled with each label == the translator's sentence
        cells += [str(m["mask_attached"]), f"{qa['fills_reproduced']} / {qa['rows_checked']}" if qa else "-"]
        lines.append(f"| `{lang}` | " + " | ".join(cells) + " |")
    return lines


def columns_table(features: list[dict[str, str]]) -> list[str]:
    """One row per published column: name, Hub dtype, meaning."""
    missing = [f["name"] for f in features if f["name"] not in COLUMN_DOCS]
    if missing:
        raise PipelineError(f"pipeline/card.py: COLUMN_DOCS has no description of column(s) {missing}; add one")
    return ["| column | type | meaning |", "|---|---|---|"] + [
        f"| `{f['name']}` | {f['dtype']} | {COLUMN_DOCS[f['name']]} |" for f in features]


def card_repo_id() -> str:
    """The repo id the card points readers to: params `publish.repo_id`."""
    return str(section("publish").get("repo_id") or "<org>/value-probes")


def render_card(df: pl.DataFrame, metrics: dict[str, Any], excluded: pl.DataFrame, repo_id: str | None = None) -> str:
    """The whole card as Markdown with a YAML header; counts come from `metrics` (metrics/dataset.json)."""
    repo_id = repo_id or card_repo_id()
    langs = df["language"].unique(maintain_order=True).to_list()
    features = hub_features(df.schema)
    machine = bool(df.filter(~pl.col("translation_source").is_in(HUMAN_SOURCES)).height)
    sizes = {lang: {s: arrow_bytes(df.filter((pl.col("language") == lang) & (pl.col("survey") == s))) for s in SURVEYS}
             for lang in langs}
    header = yaml.safe_dump(card_metadata(langs, metrics, features, sizes, machine), sort_keys=False, allow_unicode=True)
    example = langs[1] if len(langs) > 1 else langs[0]
    n_excl = sum(metrics["excluded"].values())
    lines = [
        f"---\n{header}---", "", "# value-probes", "",
        f"Cloze probes of cultural values in {len(langs)} language{'s' * (len(langs) > 1)}, built from Hofstede's "
        "Values Survey Module 2013 (VSM 2013: 24 items, 6 dimensions) and the World Values Survey wave 7 (WVS-7: "
        "items Q1-Q259 in 13 thematic categories). Each probe is a sentence with one `[MASK]` and two labels: the "
        "word for the top (`label_high`) and for the bottom (`label_low`) of the survey item's answer scale. A masked "
        "language model's preference between the two labels can then be compared with what people in the language's "
        "country answered. It reproduces, and goes past, the probes of Arora, Kaffee and Augenstein (2023).", "",
        "```python", "from datasets import load_dataset", "",
        f'probes = load_dataset("{repo_id}", "{example}", split="wvs")   # one language, one survey',
        f'everything = load_dataset("{repo_id}", "{ALL_CONFIG}")          # every language, splits hofstede and wvs',
        "```", "",
        "## Configs and splits", "",
        f"One config per language (`{'`, `'.join(langs)}`) and `{ALL_CONFIG}` (the default) with every language. "
        "Each config has two splits named after the surveys, `hofstede` and `wvs`; they are not train/test splits. "
        "English (`en`) is the source language and stands for no country.", "",
        *counts_table(langs, metrics), "",
        "## How it was built", "",
        "1. **Templates.** English probes written for this project, one per survey item (plus paraphrase variants), "
        "each with the words for the two ends of the item's answer scale. Items that cannot be a two-label cloze are "
        "listed below, with the reason.",
        "2. **Translation memory.** Each English probe filled with `label_high`, filled with `label_low`, and each label "
        "alone are looked up in a hand-curated translation memory per language, so that the label agrees "
        "grammatically with its sentence. Machine translation only fills gaps, outside the build, and is named in "
        "`translation_source`.",
        "3. **Alignment chain.** The label span in the translated sentence becomes the `[MASK]`, by the first method that "
        "resolves it: a manual override; the contrastive diff of the two fills (the span where they differ); an exact "
        "or case-normalised match of the separately translated label; a word aligner (simalign). `align_method` records "
        "which one placed each mask; a row no method resolves stops the build.",
        "4. **Validation.** Every row is checked against a schema: exactly one `[MASK]`, non-empty, distinct labels "
        "in the language's script, the same probe ids in every language, the country code matching the language.", "",
        "### Align methods per language", "",
        "Rows per method that placed the mask (share of the language's rows); rows whose mask touches a suffix; "
        "rows whose probe, filled with each label, gives back the translated sentence exactly.", "",
        *align_table(langs, metrics), "",
        "## Columns", "",
        *columns_table(features), "",
        "## Where the numbers come from", "",
        "Every count in this card is computed by the project's `dataset` stage from the rows published here and "
        "recorded in its `metrics/dataset.json` (rows per language and split, align-method counts and shares, "
        f"translation sources, exclusions). Schema check: `{metrics['checks']['schema']}`, "
        f"{metrics['checks']['failed_rows']} failing rows. Each upload's Hub commit message names the git revision "
        "of the project that built it.", "",
        f"## Survey items that are not probes ({n_excl})", "",
        *[f"- {r['survey']} {r['question']}: {r['reason']}" for r in excluded.iter_rows(named=True)], "",
        "## Sources and terms", "",
        "- Hofstede, G., & Minkov, M. (2013). *Values Survey Module 2013 Manual*. The VSM 2013 is copyrighted by its "
        "authors and free to use for academic research; the probes paraphrase its items, the questionnaire itself is "
        "not reproduced. Published country scores are not part of this dataset.",
        "- Haerpfer, C., Inglehart, R., Moreno, A., Welzel, C., Kizilova, K., Diez-Medrano, J., Lagos, M., Norris, P., "
        "Ponarin, E., & Puranen, B. (eds.) (2022). *World Values Survey: Round Seven - Country-Pooled Datafile "
        "Version 6.0*. JD Systems Institute & WVSA Secretariat. WVS data are free for non-commercial research with "
        "citation; no WVS responses are redistributed here, only probes written after its questionnaire items.",
        "- The probes, labels and translations are this project's own work, released under CC BY 4.0.", "",
        "## Known limitations", "",
        "- One country stands for each language (e.g. `de` = Germany, `ur` = Pakistan, `fa` = Iran), though languages "
        "cross borders and countries speak several languages.",
        "- Two-label cloze probes flatten 4- to 10-point answer scales to their two ends.",
        f"- {n_excl} survey items could not be probes (nominal answers, knowledge questions, codes not in scale "
        "order); they are listed above.",
        "- A label can be several subword tokens for a given model; how to score them is the user's choice.",
        "- Where `mask_attached` is true the mask stands for part of a word, which not every tokenizer can express.",
        "- Translations come from a curated memory, not from the surveys' official translations; `translation_source` "
        "marks any row a machine backend filled.", "",
        "## Citation", "",
        "Cite this dataset, the surveys it builds on, and the paper whose probes it reproduces:", "",
        "```bibtex", BIBTEX.format(url=f"{HUB_URL}/{repo_id}"), "```", "",
    ]
    return "\n".join(lines)
