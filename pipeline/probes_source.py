"""Read the published probe dataset back: the built folder (`local`) or the Hub repo (`hub`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pipeline.common import PipelineError, validate
from pipeline.params import all_languages, choice, registry, section
from schemas.probes import ProbeRow
from schemas.templates import SURVEYS

SOURCES = ("local", "hub")
ALL_CONFIG = "all"


def language_order(first: list[str]) -> list[str]:
    """`first` (params order), then every other registry language in registry order."""
    return [*first, *(code for code in registry() if code not in first)]


def order_rows(df: pl.DataFrame, languages: list[str]) -> pl.DataFrame:
    """Language in `languages` order, then survey, then the files' own row order (a stable sort)."""
    lang_rank = {code: i for i, code in enumerate(languages)}
    survey_rank = {s: i for i, s in enumerate(SURVEYS)}
    keys = [
        pl.col("language").replace_strict(lang_rank, default=len(lang_rank), return_dtype=pl.Int64),
        pl.col("survey").replace_strict(survey_rank, default=len(survey_rank), return_dtype=pl.Int64),
    ]
    return df.sort(keys, maintain_order=True)


def dataset_to_frame(dataset: Any, where: str) -> pl.DataFrame:
    """Both survey splits of a `datasets.DatasetDict` as one polars frame with the published columns."""
    missing = [s for s in SURVEYS if s not in dataset]
    if missing:
        raise PipelineError(f"{where}: split(s) {missing} missing; the dataset card must give splits {list(SURVEYS)}")
    expected = set(ProbeRow.to_schema().columns)
    parts = []
    for survey in SURVEYS:
        part = dataset[survey].to_polars()
        absent = sorted(expected - set(part.columns))
        if absent:
            raise PipelineError(f"{where}: split {survey!r} lacks column(s) {absent}; rebuild or republish the dataset")
        # The files' column order is the published one; columns a newer dataset may add are dropped.
        parts.append(part.select([c for c in part.columns if c in expected]))
    return pl.concat(parts)


def _load(path: str, revision: str | None, cache_dir: Path | None) -> Any:
    """`datasets.load_dataset` of the `all` config: the card's own config parsing, for a folder and a repo alike."""
    import datasets

    return datasets.load_dataset(path, ALL_CONFIG, revision=revision, cache_dir=str(cache_dir) if cache_dir else None)


def load_local(hub_dir: Path, cache_dir: Path | None = None) -> Any:
    """The `all` config of the locally built dataset folder."""
    hub_dir = Path(hub_dir)
    if not (hub_dir / "README.md").is_file():
        raise PipelineError(f"{hub_dir}: no dataset card (README.md). Run `dvc repro dataset` to build the dataset.")
    try:
        return _load(str(hub_dir), None, cache_dir)
    except ValueError as err:  # datasets raises ValueError for an unknown config name
        raise PipelineError(f"{hub_dir}: cannot load config `{ALL_CONFIG}` ({_one_line(err)}). "
                            "Rebuild it with `dvc repro dataset`.") from None
    except FileNotFoundError as err:
        raise PipelineError(f"{hub_dir}: data files missing ({_one_line(err)}). Rebuild it with `dvc repro dataset`.") from None


def load_hub(repo_id: str, revision: str, cache_dir: Path | None = None) -> Any:
    """The `all` config of the published dataset at a pinned revision; failures end in one actionable line."""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError

    where = f"{repo_id}@{revision}"
    local_hint = "or set `dataset.source: local` in params.yaml and build it with `dvc repro dataset`"
    try:
        return _load(repo_id, revision, cache_dir)
    except RevisionNotFoundError:
        raise PipelineError(f"{where}: revision {revision!r} not found on the Hub; fix `dataset.revision` in params.yaml") from None
    except HfHubHTTPError as err:
        code = getattr(err.response, "status_code", None)
        if code in (401, 403):
            raise PipelineError(f"{where}: the Hub refused access ({code}); log in with `hf auth login` or set HF_TOKEN "
                                f"to a token that can read it, {local_hint}") from None
        raise PipelineError(f"{where}: the Hub answered {code}: {_one_line(err)}; try again later, {local_hint}") from None
    except ConnectionError as err:  # datasets' own wording for offline mode and unreachable hosts
        if constants.is_offline_mode():
            raise PipelineError(f"{where}: offline mode (HF_HUB_OFFLINE=1) and no cached copy; unset HF_HUB_OFFLINE to "
                                f"download it once, {local_hint}") from None
        raise PipelineError(f"{where}: cannot reach {constants.ENDPOINT} ({_one_line(err)}); check the network and "
                            f"HF_ENDPOINT, {local_hint}") from None
    except FileNotFoundError as err:  # DatasetNotFoundError: missing, private without a token, or no such config
        raise PipelineError(f"{where}: not found ({_one_line(err)}); check `dataset.repo_id` in params.yaml, log in "
                            f"with `hf auth login` if it is private, {local_hint}") from None
    except ValueError as err:
        raise PipelineError(f"{where}: cannot load config `{ALL_CONFIG}` ({_one_line(err)}); republish it with "
                            "`dvc repro publish`") from None


def _one_line(err: BaseException) -> str:
    """An exception's message on one line, cut to a readable length."""
    return " ".join(str(err).split())[:300] or type(err).__name__


def load_published_probes(source: str, hub_dir: Path, repo_id: str, revision: str, *,
                          languages: list[str] | None = None, cache_dir: Path | None = None) -> pl.DataFrame:
    """Every language and both splits as ProbeRow rows: language (params order), survey, then file order."""
    if source == "local":
        where, dataset = str(hub_dir), load_local(hub_dir, cache_dir)
    elif source == "hub":
        where, dataset = f"{repo_id}@{revision}", load_hub(repo_id, revision, cache_dir)
    else:
        raise PipelineError(f"params.yaml: `dataset.source` is {source!r}; use one of: {', '.join(SOURCES)}")
    df = dataset_to_frame(dataset, where)
    df = order_rows(df, language_order(languages if languages is not None else all_languages()))
    return validate(df, ProbeRow, where)


def probes_from_params(hub_dir: Path) -> pl.DataFrame:
    """load_published_probes() with source, repo_id and revision from params `dataset:`."""
    sec = section("dataset")
    source = choice(sec, "source", SOURCES, "dataset")
    return load_published_probes(source, hub_dir, str(sec.get("repo_id") or ""), str(sec.get("revision") or "main"))
