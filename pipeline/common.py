"""Shared helpers: errors, YAML loading, atomic writes, schema validation with readable reports."""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import polars as pl
import yaml

ROOT = Path(__file__).resolve().parent.parent
MASK = "[MASK]"
_UMASK = os.umask(0)
os.umask(_UMASK)


class PipelineError(Exception):
    """An error the user can fix; its message names the file, the row and the fix."""


def cli(main: Callable[..., Any]) -> Callable[..., Any]:
    """Run a stage's main(): PipelineError becomes one clear message and exit status 2."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except PipelineError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error names the file, line and column."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = ""
        mark = getattr(err, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(err, "problem", None) or str(err)
        raise PipelineError(f"{path}: malformed YAML{where}: {problem}. Fix the syntax there.") from None


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename: never a half-written output."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet(df: pl.DataFrame, path: Path) -> None:
    """Write a parquet file atomically (no statistics timestamps, so reruns are byte-identical)."""
    _atomic(path, lambda p: df.write_parquet(p, compression="zstd", statistics=True))


def write_json(obj: Any, path: Path) -> None:
    """Write sorted, indented JSON atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    write_text(text, path)


def write_with(path: Path, write: Callable[[Path], None]) -> None:
    """Write a file atomically with a writer that takes a path (e.g. a matplotlib figure's savefig)."""
    _atomic(path, write)


def write_csv(df: pl.DataFrame, path: Path) -> None:
    """Write a table as CSV atomically, floats at fixed precision so reruns are byte-identical."""
    write_text(df.write_csv(float_precision=6), path)


def rel(path: str | Path) -> str:
    """A path as the user sees it: relative to the project root where possible."""
    path = Path(path)
    return str(path.relative_to(ROOT)) if path.is_absolute() and path.is_relative_to(ROOT) else str(path)


def write_text(text: str, path: Path) -> None:
    """Write UTF-8 text atomically."""
    _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def read_parquet(path: Path) -> pl.DataFrame:
    """Read a parquet file; a missing or broken file names itself and the stage that makes it."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: not found. Run `dvc repro` to build it.")
    try:
        return pl.read_parquet(path)
    except Exception as err:  # polars raises several types for corrupt files
        raise PipelineError(
            f"{path}: not a readable parquet file ({type(err).__name__}: {err}). "
            "Delete it and run `dvc repro` to rebuild it."
        ) from None


def validate(df: pl.DataFrame, model: Any, source: str | Path, key: str | None = "id") -> pl.DataFrame:
    """Validate `df` against a pandera model lazily; report every failing row, named by `key`."""
    import pandera.polars as pa

    try:
        return model.validate(df, lazy=True)
    except pa.errors.SchemaErrors as err:
        raise PipelineError(format_failures(err.failure_cases, df, model, source, key)) from None


def format_failures(failures: pl.DataFrame, df: pl.DataFrame, model: Any, source: str | Path, key: str | None) -> str:
    """Turn pandera's failure-case table into one line per failing row and check."""
    lines = []
    keys = df[key].to_list() if key and key in df.columns else None
    for row in failures.iter_rows(named=True):
        idx = row.get("index")
        where = ""
        if idx is not None:
            name = keys[idx] if keys is not None and idx < len(keys) else None
            where = f"row {idx + 1}" + (f" ({key}={name})" if name is not None else "")
        check = row.get("check")
        hint = getattr(model, "_hints", {}).get(str(check).split("(")[0], "")
        case = str(row.get("failure_case"))
        if len(case) > 160:
            case = case[:157] + "..."
        lines.append(f"  - {where or row.get('schema_context')}: column {row.get('column')!r} fails {check}"
                     f" (value: {case}){'; fix: ' + hint if hint else ''}")
    shown = lines[:200]
    more = f"\n  ... and {len(lines) - 200} more" if len(lines) > 200 else ""
    return f"{source}: {len(lines)} schema failure(s) against {model.__name__}:\n" + "\n".join(shown) + more
