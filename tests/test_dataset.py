"""Dataset assembly, metrics, CLI errors, and the DVC pipeline's incremental behaviour."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pipeline.align import align_rows
from pipeline.common import ROOT, PipelineError
from pipeline.dataset import COLUMNS, assemble, dataset_metrics, translation_qa
from pipeline.translate import read_memory, translate
from tests.test_translate_align import DE, TEMPLATES, write_memory

VENV_BIN = ROOT / ".venv" / "bin"
EXCLUDED = pl.DataFrame({"survey": ["wvs"], "question": ["Q91"], "reason": ["knowledge question"]})


def german(tmp_path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    path = write_memory(tmp_path / "de.tsv", DE)
    tr = translate(TEMPLATES, read_memory(path, "de"), "de", path)
    return tr, align_rows(tr, {}, ["contrastive"], "de", tmp_path / "de.yaml")


def test_assemble_columns_and_metrics(tmp_path):
    df = assemble(TEMPLATES, {"de": german(tmp_path)})
    assert df.columns == COLUMNS
    assert df.height == 4
    de = df.filter(pl.col("language") == "de").row(0, named=True)
    assert de["country"] == "DEU" and de["probe_en"] == "Family is [MASK] in my life."
    assert de["label_high_en"] == "unimportant" and de["label_high"] == "unwichtig"
    en = df.filter(pl.col("language") == "en")
    assert en["country"].is_null().all() and set(en["align_method"]) == {"source"}
    m = dataset_metrics(df, EXCLUDED, {"de": translation_qa(*german(tmp_path))})
    assert m["per_language"]["de"]["qa"] == {"rows_checked": 2, "fills_reproduced": 2, "schema_failures": 0}
    assert m["per_language"]["de"]["rows"] == {"hofstede": 0, "wvs": 2, "total": 2}
    assert m["per_language"]["de"]["align_methods"] == {"contrastive": 2}
    assert m["excluded"] == {"hofstede": 0, "wvs": 1}


def test_missing_ids_in_a_language_fail(tmp_path):
    tr, al = german(tmp_path)
    with pytest.raises(PipelineError, match=r"same_ids_everywhere"):
        assemble(TEMPLATES, {"de": (tr.head(1), al.head(1))})


def _run(args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_unknown_language_cli_error():
    res = _run(["pipeline.translate", "xx"])
    assert res.returncode == 2
    assert "unknown language 'xx'" in res.stderr and "probes/languages.yaml" in res.stderr
    assert "Traceback" not in res.stderr


def _mini_repo(tmp_path: Path) -> Path:
    """A git+DVC copy of the project with two probes and a German memory, for pipeline-level checks."""
    repo = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if f.startswith(("probes/translations/", "probes/overrides/", "tests/", "metrics/")):
            continue
        dest = repo / f
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dest)
    (repo / "probes" / "overrides").mkdir(parents=True, exist_ok=True)
    (repo / "probes" / "overrides" / ".gitkeep").write_text("")
    wvs = (repo / "probes" / "templates" / "wvs.yaml")
    wvs.write_text(
        "survey: wvs\nitems:\n"
        + "".join(
            f"  - id: {r['id']}\n    question: {r['question']}\n    category: {r['category']}\n"
            f"    scale_min: 1\n    scale_max: 4\n    probe: \"{r['probe']}\"\n"
            f"    label_high: {r['label_high']}\n    label_low: {r['label_low']}\n"
            for r in TEMPLATES.iter_rows(named=True)
        ),
        encoding="utf-8",
    )
    (repo / "probes" / "templates" / "hofstede.yaml").write_text("survey: hofstede\nitems: []\n", encoding="utf-8")
    (repo / "probes" / "translations").mkdir(parents=True, exist_ok=True)
    write_memory(repo / "probes" / "translations" / "de.tsv", DE)
    params = (repo / "params.yaml").read_text(encoding="utf-8")
    import re
    params = re.sub(r"(?m)^languages: .*$", "languages: [de]", params)
    (repo / "params.yaml").write_text(params, encoding="utf-8")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=repo, check=True, env={**os.environ, **env})
    return repo


def dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    return subprocess.run([str(VENV_BIN / "dvc"), *args], cwd=repo, capture_output=True, text=True, env=env)


@pytest.mark.skipif(not (VENV_BIN / "dvc").exists(), reason="needs the project venv")
def test_dvc_repro_is_incremental_and_deterministic(tmp_path):
    repo = _mini_repo(tmp_path)
    first = dvc(repo, "repro", "dataset")
    assert first.returncode == 0, first.stderr + first.stdout
    parquet = repo / "build" / "hub" / "data" / "de" / "wvs.parquet"
    before = parquet.read_bytes()
    ds = pl.read_parquet(parquet)
    assert ds["probe"].to_list() == ["Familie ist in meinem Leben [MASK].", "Ich bin [MASK] stolz auf meine Nationalität."]

    again = dvc(repo, "repro", "dataset")
    assert again.returncode == 0 and "Running stage" not in again.stdout  # nothing re-runs

    # Rebuilding from scratch gives byte-identical outputs.
    shutil.rmtree(repo / "build")
    assert dvc(repo, "repro", "--force", "dataset").returncode == 0
    assert parquet.read_bytes() == before

    # Editing one German translation re-runs only the German stages and the dataset.
    tsv = repo / "probes" / "translations" / "de.tsv"
    tsv.write_text(tsv.read_text(encoding="utf-8").replace("sehr stolz", "überaus stolz"), encoding="utf-8")
    third = dvc(repo, "repro", "dataset")
    assert third.returncode == 0, third.stderr
    ran = {line.split("'")[1] for line in third.stdout.splitlines() if line.startswith("Running stage")}
    assert ran == {"translate@de", "align@de", "dataset"}
    assert "überaus" in pl.read_parquet(parquet)["label_low"].to_list()[1]


@pytest.mark.skipif(not (VENV_BIN / "dvc").exists(), reason="needs the project venv")
def test_failing_stage_leaves_no_output(tmp_path):
    repo = _mini_repo(tmp_path)
    tsv = repo / "probes" / "translations" / "de.tsv"
    tsv.write_text("\n".join(tsv.read_text(encoding="utf-8").splitlines()[:-1]) + "\n", encoding="utf-8")
    res = dvc(repo, "repro", "dataset")
    assert res.returncode != 0
    assert "1 sentence(s) missing for 'de'" in res.stderr + res.stdout
    assert "wvs_Q254 (label_low): very" in res.stderr + res.stdout
    assert not (repo / "build" / "translate" / "de.parquet").exists()


def test_broken_parquet_names_file_and_fix(tmp_path):
    from pipeline.common import read_parquet

    bad = tmp_path / "de.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(PipelineError, match=r"de\.parquet: not a readable parquet file.*dvc repro"):
        read_parquet(bad)


def test_wrong_align_param_is_named(tmp_path, monkeypatch):
    import pipeline.align as align_mod

    monkeypatch.setattr(align_mod, "section", lambda name: {"methods": ["contrastive", "guess"]})
    with pytest.raises(PipelineError, match=r"`align.methods`.*override, contrastive, exact, normalized, simalign"):
        align_mod.align_params()
