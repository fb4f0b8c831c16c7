"""Stage `score@<key>`: masked-LM log-probabilities of each probe's two labels, for one model of params `score.models`.

For each probe and label: fill the label in, tokenize with the model's tokenizer, mask the label's
k tokens, and read the log-probability of each true token at its mask. `score.multi_token` says how
k token log-probs become one: mean (default) or sum of one pass, or pll (chain rule, k passes).
score = lp_high - lp_low; high_only = lp_high (the paper's ablation).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.common import ROOT, PipelineError, cli, rel, validate, write_parquet
from pipeline.params import PARAMS_FILE, choice, section
from pipeline.probes_source import SOURCES, dataset_to_frame, load_hub
from pipeline.score_batch import MULTI_TOKEN, aggregate, plan, run
from pipeline.score_model import DEVICES, SiteScorer, load_masked_lm, resolve_device
from pipeline.score_tokens import encode_fills
from schemas.probes import ProbeRow
from schemas.scores import FLAG_COLUMNS, ScoreRow

HUB_DATA = ROOT / "build" / "hub" / "data"
OUT_DIR = ROOT / "build" / "scores"
KEY_COLUMNS = ["id", "language", "survey", "question"]


@dataclass(frozen=True)
class ScoreParams:
    """One model's scoring settings, checked."""

    key: str
    name: str
    revision: str
    multi_token: str
    batch_size: int
    device: str


def score_params(key: str, path: Path = PARAMS_FILE) -> ScoreParams:
    """The `score:` section for model `key`; every bad value is a clear error."""
    sec = section("score", path)
    models = sec.get("models")
    if not isinstance(models, dict) or key not in models:
        known = ", ".join(models) if isinstance(models, dict) else "none"
        raise PipelineError(f"{path}: no model `{key}` under `score.models` (known: {known}). "
                            "Add `<key>: {name: <hub id or local folder>, revision: <commit hash>}`.")
    entry = models[key]
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise PipelineError(f"{path}: `score.models.{key}` needs `name:` (a hub id or local folder) and `revision:`")
    multi = choice(sec, "multi_token", MULTI_TOKEN, "score")
    device = choice(sec, "device", DEVICES, "score")
    size = sec.get("batch_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise PipelineError(f"{path}: `score.batch_size` is {size!r}; use a positive integer such as 32")
    return ScoreParams(key, entry["name"], str(entry.get("revision") or "main"), multi, size, device)


def load_probes(path: Path = PARAMS_FILE, hub_data: Path = HUB_DATA) -> pl.DataFrame:
    """Every dataset row (all languages, both surveys), sorted by language then survey, validated."""
    sec = section("dataset", path)
    source = choice(sec, "source", SOURCES, "dataset")
    if source == "hub":
        repo_id, revision = str(sec.get("repo_id") or ""), str(sec.get("revision") or "main")
        where = f"{repo_id}@{revision}"
        df = dataset_to_frame(load_hub(repo_id, revision), where)
    else:
        files = sorted(hub_data.glob("*/*.parquet"), key=lambda f: (f.parent.name, f.stem))
        if not files:
            raise PipelineError(f"{hub_data}: no probe files (<lang>/<survey>.parquet). Run `dvc repro dataset` first.")
        df = pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")
        where = hub_data
    df = df.sort("language", "survey", maintain_order=True)
    return validate(df, ProbeRow, where)


def _language_ids(model: Any, languages: list[str]) -> list[int | None] | None:
    """Per-row language ids for models with language embeddings (some XLM checkpoints), else None."""
    config = model.config
    if not (getattr(config, "use_lang_emb", False) and getattr(config, "n_langs", 1) > 1):
        return None
    lang2id = getattr(config, "lang2id", None) or {}
    missing = sorted(set(languages) - set(lang2id))
    if missing:
        raise PipelineError(f"the model needs a language id per input, but its config.lang2id lacks {missing}")
    return [lang2id[lang] for lang in languages]


def score_probes(probes: pl.DataFrame, tokenizer: Any, model: Any, *, multi_token: str = "mean",
                 batch_size: int = 32, device: Any = "cpu", desc: str | None = None) -> pl.DataFrame:
    """The score table for validated probes: log-probs, score, token counts and tokenizer flags."""
    import torch
    from tqdm import tqdm

    if multi_token not in MULTI_TOKEN:
        raise PipelineError(f"multi_token is {multi_token!r}; use one of: {', '.join(MULTI_TOKEN)}")
    probe_texts = probes["probe"].to_list() * 2
    fills = encode_fills(tokenizer, probe_texts, probes["label_high"].to_list() + probes["label_low"].to_list())
    n = probes.height
    langs = _language_ids(model, probes["language"].to_list() * 2)
    limit = min(getattr(model.config, "max_position_embeddings", None) or math.inf,
                getattr(tokenizer, "model_max_length", None) or math.inf)
    too_long = [i for i, f in enumerate(fills) if len(f.ids) > limit]
    if too_long:
        i = too_long[0] % n
        raise PipelineError(f"probe {probes['id'][i]} ({probes['language'][i]}) is longer than the model's "
                            f"{limit} positions once tokenized")
    p = plan(fills, multi_token, tokenizer.mask_token_id, langs)
    scorer = SiteScorer(model, tokenizer, torch.device(device))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with tqdm(total=len(p.inputs), desc=desc or "score", unit="seq", disable=desc is None) as bar:
        lp = aggregate(p, run(p, scorer, pad, batch_size, bar.update), multi_token)
    high, low = fills[:n], fills[n:]
    return pl.DataFrame({
        **{c: probes[c] for c in KEY_COLUMNS},
        "lp_high": lp[:n],
        "lp_low": lp[n:],
        "score": lp[:n] - lp[n:],
        "high_only": lp[:n],
        "n_tokens_high": pl.Series([len(f.positions) for f in high], dtype=pl.Int64),
        "n_tokens_low": pl.Series([len(f.positions) for f in low], dtype=pl.Int64),
        "unk_high": [f.unk for f in high],
        "unk_low": [f.unk for f in low],
        "labels_collide": [h.targets == lo.targets for h, lo in zip(high, low)],
        "straddle_high": [f.straddle for f in high],
        "straddle_low": [f.straddle for f in low],
    }).sort("language", "survey", "id")


def damage_report(scores: pl.DataFrame) -> pl.DataFrame:
    """Per language: rows, and how many carry each tokenizer flag."""
    return (scores.group_by("language")
            .agg(pl.len().alias("rows"), *[pl.col(c).sum() for c in FLAG_COLUMNS])
            .sort("language"))


@cli
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("key", help="a model key of params `score.models`")
    args = ap.parse_args(argv)
    cfg = score_params(args.key)
    device = resolve_device(cfg.device)
    probes = load_probes()
    tokenizer, model = load_masked_lm(cfg.name, cfg.revision, cfg.key)
    scores = score_probes(probes, tokenizer, model, multi_token=cfg.multi_token, batch_size=cfg.batch_size,
                          device=device, desc=f"score@{cfg.key}")
    out = OUT_DIR / f"{cfg.key}.parquet"
    write_parquet(validate(scores, ScoreRow, out), out)
    with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        print(f"score@{cfg.key}: tokenizer flags per language ({cfg.name}):\n{damage_report(scores)}")
    print(f"score@{cfg.key}: {scores.height} rows, multi_token={cfg.multi_token}, device={device} -> "
          f"{rel(out)}")


if __name__ == "__main__":
    main()
