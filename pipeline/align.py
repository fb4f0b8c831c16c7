"""Stage `align@<lang>`: find the label span in each translated fill and put [MASK] there.

Methods, in the order params `align.methods` gives (first that resolves a row wins):
  override     probes/overrides/<lang>.yaml names the label text in each fill
  contrastive  the two fills differ in one span of whole words: that span is the label
  exact        the separately translated labels occur where the fills differ, in the same context
  normalized   the same, ignoring case
  simalign     a word aligner maps the English label words onto the translation
"""

from __future__ import annotations

import argparse
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import polars as pl

import regex

from pipeline.common import MASK, ROOT, PipelineError, cli, load_yaml, read_parquet, validate, write_parquet
from pipeline.params import check_language, section
from pipeline.translate import OUT_DIR as TRANSLATE_DIR
from schemas.probes import AlignedRow
from schemas.translations import TranslatedRow

OVERRIDE_DIR = ROOT / "probes" / "overrides"
OUT_DIR = ROOT / "build" / "align"
METHODS = ("override", "contrastive", "exact", "normalized", "simalign")
# A word is letters/digits plus combining marks (Bengali vowel signs and virama, Arabic harakat)
# and zero-width (non-)joiners (Persian می‌کنم): Python's \w alone splits such words mid-word.
WORD = r"[\w\p{M}\u200c\u200d]+"
TOKEN = regex.compile(rf"{WORD}|[^\w\p{{M}}\s]|\s+")
# A contrastive span may hold this many words more than the separately translated label
# (an article or particle that agrees with it); a longer span means the fills differ elsewhere.
MAX_EXTRA_WORDS = 2


@dataclass(frozen=True)
class Alignment:
    """A placed mask: the probe, the two labels as they stand in their fills, and how."""

    probe: str
    label_high: str
    label_low: str
    method: str
    mask_attached: bool


def override_path(lang: str) -> Path:
    """Where a language's manual alignment overrides live."""
    return OVERRIDE_DIR / f"{lang}.yaml"


def _spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in TOKEN.finditer(text)]


def diff_region(high: str, low: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Character spans where two fills differ, cut at token boundaries (common prefix/suffix removed)."""
    th, tl = _spans(high), _spans(low)
    wh = [high[a:b] for a, b in th]
    wl = [low[a:b] for a, b in tl]
    p = 0
    while p < min(len(wh), len(wl)) and wh[p] == wl[p]:
        p += 1
    s = 0
    while s < min(len(wh), len(wl)) - p and wh[-1 - s] == wl[-1 - s]:
        s += 1

    def region(spans: list[tuple[int, int]], text: str) -> tuple[int, int]:
        start = spans[p][0] if p < len(spans) else len(text)
        end = spans[len(spans) - s - 1][1] if len(spans) - s > p else start
        return start, end

    return region(th, high), region(tl, low)


def _words(text: str) -> int:
    return len(regex.findall(WORD, text))


def _attached(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return bool(regex.match(WORD, before) or regex.match(WORD, after))


def contrastive(high: str, low: str, lab_h: str, lab_l: str, attach: bool = False) -> Alignment | None:
    """The differing whole-word span of the two fills; with `attach`, narrowed to the translated labels inside it."""
    (h0, h1), (l0, l1) = diff_region(high, low)
    span_h, span_l = high[h0:h1], low[l0:l1]
    if not span_h.strip() or not span_l.strip() or span_h != span_h.strip() or span_l != span_l.strip():
        return None
    if _words(span_h) > _words(lab_h) + MAX_EXTRA_WORDS or _words(span_l) > _words(lab_l) + MAX_EXTRA_WORDS:
        return None
    # Agglutinative attachments: span "önemlidir" / "önemsizdir" with labels "önemli" / "önemsiz".
    # Only where the registry allows it: in German, cutting "wichtige" to "wichtig" + "e" makes a half-word.
    for i in (_find(span_h, lab_h) if attach else []):
        pre, post = span_h[:i], span_h[i + len(lab_h):]
        if span_l.startswith(pre) and span_l.endswith(post) and span_l[len(pre):len(span_l) - len(post)] == lab_l:
            probe = high[:h0] + pre + MASK + post + high[h1:]
            return Alignment(probe, lab_h, lab_l, "contrastive", bool(pre or post))
    return Alignment(high[:h0] + MASK + high[h1:], span_h, span_l, "contrastive", False)


def _find(text: str, label: str, ignore_case: bool = False) -> list[int]:
    flags = re.IGNORECASE if ignore_case else 0
    return [m.start() for m in re.finditer(re.escape(label), text, flags)]


def located(high: str, low: str, lab_h: str, lab_l: str, ignore_case: bool, attach: bool = False) -> Alignment | None:
    """Both translated labels found where the fills differ, with identical context around them."""
    if ignore_case:
        high, low = unicodedata.normalize("NFC", high), unicodedata.normalize("NFC", low)
        lab_h, lab_l = unicodedata.normalize("NFC", lab_h), unicodedata.normalize("NFC", lab_l)
    (h0, h1), _ = diff_region(high, low)
    # A label next to an inserted word ("একমত নই যে" vs "একমত যে") touches the differing
    # region only across a space, so the region is widened over the whitespace around it.
    h0, h1 = len(high[:h0].rstrip()), h1 + len(high[h1:]) - len(high[h1:].lstrip())
    for i in _find(high, lab_h, ignore_case):
        j_end = i + len(lab_h)
        if not (i <= h1 and j_end >= h0) or (not attach and _attached(high, i, j_end)):
            continue
        for k in _find(low, lab_l, ignore_case):
            k_end = k + len(lab_l)
            if high[:i] == low[:k] and high[j_end:] == low[k_end:]:
                return Alignment(high[:i] + MASK + high[j_end:], high[i:j_end], low[k:k_end],
                                 "normalized" if ignore_case else "exact", _attached(high, i, j_end))
    return None


def from_override(high: str, low: str, spec: Any, where: str) -> Alignment:
    """Apply a manual override: it names the label text in each fill; it must be there."""
    if not isinstance(spec, dict) or not {"label_high", "label_low"} <= spec.keys():
        raise PipelineError(f"{where}: an override needs `label_high:` and `label_low:` (the label text in each fill)")
    lab_h, lab_l = str(spec["label_high"]), str(spec["label_low"])
    occurrence = int(spec.get("occurrence", 1)) - 1
    hits_h, hits_l = _find(high, lab_h), _find(low, lab_l)
    if len(hits_h) <= occurrence or len(hits_l) <= occurrence:
        raise PipelineError(
            f"{where}: override text not found in the translation: label_high {lab_h!r} in {high!r}"
            f" / label_low {lab_l!r} in {low!r}. Copy the label exactly as it stands in each sentence."
        )
    i = hits_h[occurrence]
    return Alignment(high[:i] + MASK + high[i + len(lab_h):], lab_h, lab_l, "override", _attached(high, i, i + len(lab_h)))


Aligner = Callable[[str, str, str, str, str, str], "Alignment | None"]


def align_rows(translated: pl.DataFrame, overrides: dict[str, Any], methods: list[str], lang: str,
               override_file: Path, simaligner: Aligner | None = None,
               english: pl.DataFrame | None = None, attach: bool = False) -> pl.DataFrame:
    """Place the mask in every row; unresolved rows are one error that lists them all."""
    unknown = set(overrides) - set(translated["id"])
    if unknown:
        raise PipelineError(f"{override_file}: override(s) for ids no probe has: {', '.join(sorted(unknown))}. Fix or delete them.")
    en = {r["id"]: r for r in english.iter_rows(named=True)} if english is not None else {}
    out, unresolved = [], []
    for r in translated.iter_rows(named=True):
        hi, lo, lh, ll = r["text_high"], r["text_low"], r["label_high_alone"], r["label_low_alone"]
        result = None
        for method in methods:
            if method == "override" and r["id"] in overrides:
                result = from_override(hi, lo, overrides[r["id"]], f"{override_file} (id {r['id']})")
            elif method == "contrastive":
                result = contrastive(hi, lo, lh, ll, attach)
            elif method in ("exact", "normalized"):
                result = located(hi, lo, lh, ll, method == "normalized", attach)
            elif method == "simalign" and simaligner is not None and r["id"] in en:
                e = en[r["id"]]
                result = simaligner(r["source_high"], r["source_low"], e["label_high"], e["label_low"], hi, lo)
            if result is not None:
                break
        if result is None:
            unresolved.append(f"  {r['id']}: high={hi!r} low={lo!r} (labels {lh!r} / {ll!r})")
            continue
        out.append({"id": r["id"], "language": lang, "probe": result.probe, "label_high": result.label_high,
                    "label_low": result.label_low, "align_method": result.method, "mask_attached": result.mask_attached})
    if unresolved:
        raise PipelineError(
            f"align@{lang}: {len(unresolved)} row(s) where no method ({', '.join(methods)}) could place the mask. "
            f"Make the two fills differ only in the label in probes/translations/{lang}.tsv, or add an entry "
            f"`<id>: {{label_high: ..., label_low: ...}}` to {override_file}:\n" + "\n".join(unresolved)
        )
    df = pl.DataFrame(out, schema={"id": pl.String, "language": pl.String, "probe": pl.String, "label_high": pl.String,
                                   "label_low": pl.String, "align_method": pl.String, "mask_attached": pl.Boolean})
    return validate(df, AlignedRow, f"align@{lang}")


def load_overrides(path: Path) -> dict[str, Any]:
    """A language's overrides (id -> spec); no file means none."""
    if not path.exists():
        return {}
    doc = load_yaml(path) or {}
    if not isinstance(doc, dict):
        raise PipelineError(f"{path}: expected a mapping `<id>: {{label_high: ..., label_low: ...}}`")
    return doc


def align_params() -> tuple[list[str], dict[str, Any]]:
    """Methods and simalign settings from params, checked."""
    sec = section("align")
    methods = sec.get("methods")
    if not isinstance(methods, list) or not methods or any(m not in METHODS for m in methods):
        raise PipelineError(f"params.yaml: `align.methods` is {methods!r}; use a list drawn from {', '.join(METHODS)}")
    return methods, sec.get("simalign") or {}


@cli
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lang")
    args = ap.parse_args(argv)
    entry = check_language(args.lang, where="align")
    methods, sim = align_params()
    path = TRANSLATE_DIR / f"{args.lang}.parquet"
    translated = validate(read_parquet(path), TranslatedRow, path)
    simaligner, english = None, None
    if "simalign" in methods and sim.get("model"):
        from pipeline.word_align import make_simaligner
        from pipeline.translate import load_templates

        simaligner = make_simaligner(sim)
        english = load_templates()
    ov = override_path(args.lang)
    aligned = align_rows(translated, load_overrides(ov), methods, args.lang, ov, simaligner, english,
                         attach=bool(entry.get("attach_mask")))
    write_parquet(aligned, OUT_DIR / f"{args.lang}.parquet")
    counts = aligned.group_by("align_method").len().sort("align_method")
    print(f"align@{args.lang}: {aligned.height} probes; " + ", ".join(f"{m}={n}" for m, n in counts.iter_rows())
          + f"; mask attached to a word: {aligned['mask_attached'].sum()}")


if __name__ == "__main__":
    main()
