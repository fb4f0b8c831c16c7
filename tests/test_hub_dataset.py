"""The Hub-ready dataset folder: every config loads with `datasets`, the card parses with the Hub's own classes,
and load_published_probes() reads it back, locally and (offline-failing) from the Hub."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pipeline.card import ALL_CONFIG, COLUMN_DOCS, HUB_DTYPES, render_card
from pipeline.common import ROOT, PipelineError
from pipeline.dataset import assemble, dataset_metrics, write_hub
from pipeline.probes_source import load_published_probes
from pipeline.templates import TEMPLATE_DIR, build_templates
from schemas.probes import ProbeRow
from schemas.templates import SURVEYS

REPO_ID = "test-org/value-probes"
LANGS = ["en", "de"]


def build_hub(hub_dir: Path, repo_id: str = REPO_ID) -> dict:
    """A dataset folder made by the real dataset-stage code from the real templates: `en` plus a fake `de`."""
    templates, excluded = build_templates([TEMPLATE_DIR / f"{s}.yaml" for s in SURVEYS])
    methods = pl.when(pl.int_range(pl.len()) % 4 == 0).then(pl.lit("contrastive")).otherwise(pl.lit("exact"))
    aligned = templates.select("id", pl.lit("de").alias("language"), "probe", "label_high", "label_low",
                               methods.alias("align_method"), pl.lit(False).alias("mask_attached"))
    translated = templates.select("id", pl.lit("curated").alias("translation_source"))
    df = assemble(templates, {"de": (translated, aligned)})
    metrics = dataset_metrics(df, excluded)
    card = render_card(df, metrics, excluded, repo_id=repo_id)
    write_hub(df, hub_dir, card)
    return {"dir": hub_dir, "df": df, "metrics": metrics, "excluded": excluded, "card": card}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    return build_hub(tmp_path_factory.mktemp("hub") / "hub")


def load(hub_dir: Path, config: str, cache: Path):
    import datasets

    return datasets.load_dataset(str(hub_dir), config, cache_dir=str(cache))


def probe_row_dtypes() -> dict[str, str]:
    """ProbeRow's columns as Hub dtypes, from the pandera schema itself."""
    return {name: HUB_DTYPES[col.dtype.type] for name, col in ProbeRow.to_schema().columns.items()}


@pytest.mark.parametrize("config", [*LANGS, ALL_CONFIG])
def test_every_config_loads_with_both_splits_and_schema_dtypes(hub, config, tmp_path):
    ds = load(hub["dir"], config, tmp_path / "cache")
    assert set(ds) == set(SURVEYS)
    dtypes = probe_row_dtypes()
    assert set(dtypes) == set(COLUMN_DOCS) and len(dtypes) == 17
    df = hub["df"]
    langs = LANGS if config == ALL_CONFIG else [config]
    for survey in SURVEYS:
        split = ds[survey]
        assert {name: f.dtype for name, f in split.features.items()} == dtypes
        assert split.column_names == df.columns
        want = df.filter(pl.col("language").is_in(langs) & (pl.col("survey") == survey))
        assert split.num_rows == want.height > 0
        # `all` lists its files in language order, so rows come back en first, then de, each in file order.
        assert split["id"] == want["id"].to_list() and split["language"] == want["language"].to_list()


def test_all_config_holds_the_sum_of_the_languages(hub, tmp_path):
    rows = {c: {s: load(hub["dir"], c, tmp_path / "cache")[s].num_rows for s in SURVEYS} for c in [*LANGS, ALL_CONFIG]}
    for survey in SURVEYS:
        assert rows[ALL_CONFIG][survey] == sum(rows[lang][survey] for lang in LANGS)
    assert sum(rows[ALL_CONFIG].values()) == hub["metrics"]["rows_total"] == hub["df"].height


def test_card_yaml_parses_with_the_hub_and_datasets_classes(hub):
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    card = DatasetCard.load(hub["dir"] / "README.md")
    data = card.data
    assert isinstance(data, DatasetCardData)
    assert data.language == LANGS and data.license == "cc-by-4.0"
    assert data.task_categories == ["fill-mask"] and data.task_ids == ["masked-language-modeling"]
    assert data.size_categories == ["n<1K"] and data.multilinguality == "multilingual"
    assert data.pretty_name and data.source_datasets == ["original"]
    # The same parsing `datasets.load_dataset` applies to a Hub repo's card.
    configs = MetadataConfigs.from_dataset_card_data(data)
    assert list(configs) == [*LANGS, ALL_CONFIG]
    assert configs.get_default_config_name() == ALL_CONFIG
    assert configs["de"]["data_files"] == [{"split": s, "path": f"data/de/{s}.parquet"} for s in SURVEYS]
    infos = DatasetInfosDict.from_dataset_card_data(data)
    assert set(infos) == {*LANGS, ALL_CONFIG}
    per_lang = hub["metrics"]["per_language"]
    for lang in LANGS:
        assert {s: infos[lang].splits[s].num_examples for s in SURVEYS} == {s: per_lang[lang]["rows"][s] for s in SURVEYS}
        assert {k: v.dtype for k, v in infos[lang].features.items()} == probe_row_dtypes()
    assert sum(infos[ALL_CONFIG].splits[s].num_examples for s in SURVEYS) == hub["df"].height
    # Round trip through the Hub's own metadata class keeps every field.
    again = DatasetCardData(**data.to_dict())
    assert again.to_dict() == data.to_dict()


def test_card_body_documents_columns_counts_sources_and_citations(hub):
    text = hub["card"].split("\n---\n", 1)[1]
    for column in COLUMN_DOCS:
        assert f"| `{column}` |" in text
    m = hub["metrics"]["per_language"]
    assert f"| `de` | German | DEU | {m['de']['rows']['hofstede']} | {m['de']['rows']['wvs']} | {m['de']['rows']['total']} |" in text
    share = m["de"]["align_shares"]["contrastive"]
    assert f"{m['de']['align_methods']['contrastive']} ({share:.1%})" in text
    for excluded in hub["excluded"]["question"]:
        assert f" {excluded}: " in text
    for needle in ("@misc{value_probes", "@inproceedings{arora-etal-2023-probing", "@manual{hofstede-minkov-2013-vsm",
                   "@misc{haerpfer-etal-2022-wvs7", f"https://huggingface.co/datasets/{REPO_ID}",
                   "Known limitations", "metrics/dataset.json", f'load_dataset("{REPO_ID}", "de", split="wvs")'):
        assert needle in text
    bib = text.split("```bibtex", 1)[1].split("```", 1)[0]
    assert bib.count("{") == bib.count("}")


def test_card_is_deterministic_and_needs_a_doc_for_every_column(hub):
    df, metrics, excluded = hub["df"], hub["metrics"], hub["excluded"]
    assert render_card(df, metrics, excluded, repo_id=REPO_ID) == hub["card"]
    with pytest.raises(PipelineError, match="COLUMN_DOCS has no description of column"):
        render_card(df.with_columns(pl.lit("x").alias("undocumented")), metrics, excluded, repo_id=REPO_ID)


def test_load_published_probes_local_order_and_schema(hub, tmp_path):
    df = load_published_probes("local", hub["dir"], "unused/repo", "main", languages=["en", "de"], cache_dir=tmp_path)
    assert df.columns == hub["df"].columns and df.schema == hub["df"].schema
    assert df.height == hub["df"].height
    keys = df.select("language", "survey").unique(maintain_order=True).rows()
    assert keys == [("en", "hofstede"), ("en", "wvs"), ("de", "hofstede"), ("de", "wvs")]
    for lang in LANGS:  # ids in file order within each language and survey
        for survey in SURVEYS:
            file_ids = pl.read_parquet(hub["dir"] / "data" / lang / f"{survey}.parquet")["id"].to_list()
            got = df.filter((pl.col("language") == lang) & (pl.col("survey") == survey))["id"].to_list()
            assert got == file_ids
    de_first = load_published_probes("local", hub["dir"], "unused/repo", "main", languages=["de"], cache_dir=tmp_path)
    assert de_first["language"].unique(maintain_order=True).to_list() == ["de", "en"]


def test_load_published_probes_hub_pins_repo_and_revision(hub, tmp_path, monkeypatch):
    import datasets

    real, calls = datasets.load_dataset, []

    def fake(path, name=None, **kwargs):
        calls.append((path, name, kwargs.get("revision")))
        return real(str(hub["dir"]), name, cache_dir=str(tmp_path))

    monkeypatch.setattr(datasets, "load_dataset", fake)
    df = load_published_probes("hub", Path("/nonexistent"), REPO_ID, "0123abc", languages=LANGS)
    assert calls == [(REPO_ID, ALL_CONFIG, "0123abc")]
    assert df.height == hub["df"].height


def test_load_published_probes_errors(tmp_path):
    with pytest.raises(PipelineError, match=r"`dataset.source` is 'cloud'; use one of: local, hub"):
        load_published_probes("cloud", tmp_path, REPO_ID, "main")
    with pytest.raises(PipelineError, match=r"no dataset card.*dvc repro dataset"):
        load_published_probes("local", tmp_path / "missing", REPO_ID, "main")


def test_hub_source_offline_is_one_clear_error(tmp_path):
    code = ("from pathlib import Path\nfrom pipeline.common import PipelineError\n"
            "from pipeline.probes_source import load_published_probes\n"
            "try:\n    load_published_probes('hub', Path('.'), 'test-org/value-probes', 'main', languages=['en'])\n"
            "except PipelineError as e:\n    print('ERR', e)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_") and k != "TRANSFORMERS_OFFLINE"}
    env |= {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    out = res.stdout.strip()
    assert out.startswith("ERR test-org/value-probes@main: offline mode (HF_HUB_OFFLINE=1)"), res.stdout + res.stderr
    assert "dataset.source: local" in out and "\n" not in out
