"""Fill gaps in a translation memory with a machine-translation backend (never run by `dvc repro`).

    python -m pipeline.fill_memory ro --backend hf --model facebook/nllb-200-distilled-600M
    python -m pipeline.fill_memory ro --backend google --project my-gcp-project

Only sentences the memory lacks are translated; each batch is appended to
probes/translations/<lang>.tsv as soon as it is done, with its provenance, so a failed
call loses nothing already written. Curated lines are never touched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import unicodedata
from pathlib import Path
from typing import Any, Protocol

import pandera.polars as pa
import polars as pl
from tqdm import tqdm

from pipeline.common import PipelineError, cli
from pipeline.params import SOURCE_LANGUAGE, check_language
from pipeline.templates import TEMPLATE_DIR, build_templates
from pipeline.translate import HEADER, memory_path, read_memory, todo
from schemas.templates import SURVEYS
from schemas.translations import MemoryRow


class Backend(Protocol):
    """A machine-translation backend: English sentences in, translations out, plus a provenance tag."""

    provenance: str

    def translate(self, sentences: list[str]) -> list[str]: ...


class HFBackend:
    """Any transformers seq2seq MT model; NLLB-200 and M2M100 language codes come from the registry."""

    def __init__(self, model: str, revision: str, lang: str, device: str = "cpu", max_new_tokens: int = 128):
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, revision=revision)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(model, revision=revision).to(device).eval()
        except OSError as err:
            raise PipelineError(
                f"MT model {model!r}@{revision} could not be loaded: {err}. Offline, download it first "
                f"(`huggingface-cli download {model} --revision {revision}`) or pass a local folder to --model."
            ) from None
        entry = check_language(lang, where="--lang")
        self.device, self.max_new_tokens = device, max_new_tokens
        self.generate_kwargs: dict[str, Any] = {}
        kind = type(self.tokenizer).__name__
        if "Nllb" in kind:
            self.tokenizer.src_lang = check_language(SOURCE_LANGUAGE)["nllb"]
            self.generate_kwargs["forced_bos_token_id"] = self.tokenizer.convert_tokens_to_ids(entry["nllb"])
        elif "M2M100" in kind:
            self.tokenizer.src_lang = check_language(SOURCE_LANGUAGE)["m2m100"]
            self.generate_kwargs["forced_bos_token_id"] = self.tokenizer.get_lang_id(entry["m2m100"])
        sha = getattr(self.model.config, "_commit_hash", None) or revision
        self.provenance = f"hf:{model}@{sha}"

    def translate(self, sentences: list[str]) -> list[str]:
        import torch

        batch = self.tokenizer(sentences, return_tensors="pt", padding=True).to(self.device)
        with torch.inference_mode():
            out = self.model.generate(**batch, num_beams=1, do_sample=False,
                                      max_new_tokens=self.max_new_tokens, **self.generate_kwargs)
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]


class GoogleBackend:
    """Google Cloud Translation v3; credentials come from the environment (GOOGLE_APPLICATION_CREDENTIALS)."""

    def __init__(self, lang: str, project: str | None, client: Any = None):
        project = project or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if not project:
            raise PipelineError("google backend: no project. Pass --project or set GOOGLE_CLOUD_PROJECT.")
        if client is None:
            try:
                from google.cloud import translate_v3
            except ImportError:
                raise PipelineError("google backend: `pip install google-cloud-translate` first.") from None
            try:
                client = translate_v3.TranslationServiceClient()
            except Exception as err:  # google.auth raises DefaultCredentialsError when nothing is configured
                raise PipelineError(
                    f"google backend: no usable credentials ({type(err).__name__}). Set GOOGLE_APPLICATION_CREDENTIALS "
                    "to a service-account key file or run `gcloud auth application-default login`."
                ) from None
        self.client, self.lang = client, lang
        self.parent = f"projects/{project}/locations/global"
        self.provenance = "google:translate-v3"

    def translate(self, sentences: list[str]) -> list[str]:
        response = self.client.translate_text(request={
            "parent": self.parent, "contents": sentences, "mime_type": "text/plain",
            "source_language_code": SOURCE_LANGUAGE, "target_language_code": self.lang,
        })
        return [t.translated_text.strip() for t in response.translations]


def fill(lang: str, backend: Backend, path: Path, templates: pl.DataFrame, batch_size: int = 16,
         today: str | None = None) -> tuple[int, list[str]]:
    """Translate what the memory lacks and append it batch by batch; returns (added, rejected lines)."""
    memory = read_memory(path, lang) if path.exists() else None
    missing = todo(templates, memory)
    stamp = f"{backend.provenance} {today or dt.date.today().isoformat()}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\t".join(HEADER) + "\n", encoding="utf-8")
    added, rejected = 0, []
    for start in tqdm(range(0, len(missing), batch_size), desc=f"fill {lang}", unit="batch"):
        chunk = missing[start:start + batch_size]
        try:
            out = backend.translate(chunk)
        except PipelineError:
            raise
        except Exception as err:
            raise PipelineError(
                f"{backend.provenance}: translation call failed ({type(err).__name__}: {err}). "
                f"{added} new line(s) were already saved to {path}; rerun to continue."
            ) from None
        good = _checked(lang, chunk, out, stamp, rejected)
        if good:
            with path.open("a", encoding="utf-8") as fh:
                fh.writelines(f"{s}\t{t}\t{stamp}\n" for s, t in good)
            added += len(good)
    return added, rejected


def _checked(lang: str, sources: list[str], targets: list[str], stamp: str, rejected: list[str]) -> list[tuple[str, str]]:
    """Keep only translations that pass the memory's QA (script, NFC, non-empty); note the rest."""
    rows = [(i, lang, s, unicodedata.normalize("NFC", t).replace("\t", " ").strip(), stamp)
            for i, (s, t) in enumerate(zip(sources, targets))]
    df = pl.DataFrame(rows, schema={"line": pl.Int64, "language": pl.String, "source": pl.String,
                                    "target": pl.String, "provenance": pl.String}, orient="row")
    try:
        MemoryRow.validate(df, lazy=True)
        bad: set[int] = set()
    except pa.errors.SchemaErrors as err:
        bad = {int(i) for i in err.failure_cases["index"].drop_nulls().to_list()}
    for i in sorted(bad):
        rejected.append(f"{sources[i]!r} -> {rows[i][3]!r}")
    return [(r[2], r[3]) for r in rows if r[0] not in bad]


@cli
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lang")
    ap.add_argument("--backend", choices=("hf", "google"), required=True)
    ap.add_argument("--model", help="hf: model id or local path (e.g. facebook/nllb-200-distilled-600M)")
    ap.add_argument("--revision", default="main", help="hf: model revision; pin a commit hash")
    ap.add_argument("--project", help="google: Cloud project id (or GOOGLE_CLOUD_PROJECT)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    check_language(args.lang, where="fill_memory")
    if args.lang == SOURCE_LANGUAGE:
        raise PipelineError("English is the source language; there is nothing to translate.")
    if args.backend == "hf":
        if not args.model:
            raise PipelineError("--backend hf needs --model (an HF seq2seq MT model id or local path)")
        backend: Backend = HFBackend(args.model, args.revision, args.lang, args.device)
    else:
        backend = GoogleBackend(args.lang, args.project)
    templates, _ = build_templates([TEMPLATE_DIR / f"{s}.yaml" for s in SURVEYS])
    path = memory_path(args.lang)
    added, rejected = fill(args.lang, backend, path, templates, args.batch_size)
    print(f"fill_memory {args.lang}: added {added} line(s) from {backend.provenance} to {path}")
    if rejected:
        print(f"{len(rejected)} translation(s) failed QA and were not written (fix them by hand):")
        print("\n".join(f"  {r}" for r in rejected))


if __name__ == "__main__":
    main()
