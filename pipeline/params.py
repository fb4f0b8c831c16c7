"""The one place params.yaml and the language registry are read and checked."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.common import ROOT, PipelineError, load_yaml

PARAMS_FILE = ROOT / "params.yaml"
LANGUAGES_FILE = ROOT / "probes" / "languages.yaml"
SOURCE_LANGUAGE = "en"


@lru_cache(maxsize=None)
def load_params(path: Path = PARAMS_FILE) -> dict[str, Any]:
    """The whole params.yaml as a dict."""
    params = load_yaml(path)
    if not isinstance(params, dict):
        raise PipelineError(f"{path}: expected a mapping of sections (languages, align, score, ...)")
    return params


def section(name: str, path: Path = PARAMS_FILE) -> dict[str, Any]:
    """One section of params.yaml; a missing section is an error that names it."""
    params = load_params(path)
    value = params.get(name)
    if not isinstance(value, dict):
        raise PipelineError(f"{path}: section `{name}:` is missing or not a mapping; see README, 'Parameters'.")
    return value


def choice(sec: dict[str, Any], key: str, allowed: tuple[str, ...], where: str) -> str:
    """A param that must be one of `allowed`."""
    value = sec.get(key)
    if value not in allowed:
        raise PipelineError(f"params.yaml: `{where}.{key}` is {value!r}; use one of: {', '.join(allowed)}")
    return value


@lru_cache(maxsize=None)
def registry(path: Path = LANGUAGES_FILE) -> dict[str, dict[str, Any]]:
    """The language registry: code -> name, country, iso3, wvs_code, script, letters, MT codes."""
    reg = load_yaml(path)
    if not isinstance(reg, dict) or SOURCE_LANGUAGE not in reg:
        raise PipelineError(f"{path}: expected a mapping of language codes including `{SOURCE_LANGUAGE}`")
    return reg


def check_language(code: str, where: str = "params.yaml `languages`") -> dict[str, Any]:
    """Registry entry for a language code; an unknown code is a clear error."""
    reg = registry()
    if code not in reg:
        raise PipelineError(
            f"{where}: unknown language {code!r}. Known codes (probes/languages.yaml): {', '.join(sorted(reg))}. "
            "Fix the code, or add the language to probes/languages.yaml with its country and script."
        )
    return reg[code]


def target_languages(path: Path = PARAMS_FILE) -> list[str]:
    """The languages to build besides English, in params order; checked against the registry."""
    langs = load_params(path).get("languages")
    if not isinstance(langs, list) or not all(isinstance(x, str) for x in langs):
        raise PipelineError(f"{path}: `languages` must be a list of language codes, e.g. [de, ro]")
    for code in langs:
        check_language(code)
        if code == SOURCE_LANGUAGE:
            raise PipelineError(f"{path}: `languages` lists `en`; English is the source and always built. Remove it.")
    if len(set(langs)) != len(langs):
        raise PipelineError(f"{path}: `languages` lists a code twice: {langs}")
    return langs


def all_languages(path: Path = PARAMS_FILE) -> list[str]:
    """English followed by the target languages."""
    return [SOURCE_LANGUAGE, *target_languages(path)]
