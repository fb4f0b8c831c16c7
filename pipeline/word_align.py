"""The simalign step of the alignment chain: map English label words onto the translation."""

from __future__ import annotations

import re
from typing import Any, Callable

from pipeline.align import MASK, Alignment
from pipeline.common import PipelineError

MATCHING = {"inter": "a", "mwmf": "m", "itermax": "i", "fwd": "f", "rev": "r"}
EDGE_PUNCT = re.compile(r"^\W+|\W+$")


def load_aligner(cfg: dict[str, Any]) -> tuple[Any, str]:
    """A simalign SentenceAligner for the configured model and layer; clear errors when it cannot load."""
    model, layer, matching = cfg.get("model"), cfg.get("layer", 8), cfg.get("matching", "itermax")
    if matching not in MATCHING:
        raise PipelineError(f"params.yaml: `align.simalign.matching` is {matching!r}; use one of {', '.join(MATCHING)}")
    if not isinstance(layer, int) or layer < 0:
        raise PipelineError(f"params.yaml: `align.simalign.layer` is {layer!r}; use a non-negative integer")
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model)
    except OSError as err:
        raise PipelineError(
            f"simalign model {model!r} (params.yaml `align.simalign.model`) could not be loaded: {err}. "
            "Offline, point it at a local folder or download it first; set it to null to skip word alignment."
        ) from None
    n_layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layers", None)
    if n_layers is not None and layer > n_layers:
        raise PipelineError(
            f"params.yaml: `align.simalign.layer` is {layer}, but {model!r} has only {n_layers} layers; use 0-{n_layers}."
        )
    from simalign import SentenceAligner

    return SentenceAligner(model=model, token_type="bpe", matching_methods=MATCHING[matching], layer=layer), matching


def _label_words(words: list[str], label: str) -> list[int]:
    """Indices of the source words that make up the label (first occurrence)."""
    target = [w.lower() for w in label.split()]
    clean = [EDGE_PUNCT.sub("", w).lower() for w in words]
    for i in range(len(clean) - len(target) + 1):
        if clean[i:i + len(target)] == target:
            return list(range(i, i + len(target)))
    return []


def aligned_span(aligns: list[tuple[int, int]], src_idx: list[int], tgt: str) -> tuple[int, int] | None:
    """Character span of the target words aligned to the source label words, without edge punctuation."""
    hits = sorted({j for i, j in aligns if i in src_idx})
    if not hits or hits[-1] - hits[0] + 1 != len(hits):
        return None  # nothing aligned, or a discontinuous span that no single mask can cover
    spans = [m.span() for m in re.finditer(r"\S+", tgt)]
    start, end = spans[hits[0]][0], spans[hits[-1]][1]
    word = tgt[start:end]
    lead = len(word) - len(word.lstrip(".,;:!?\"'«»()¿¡"))
    trail = len(word) - len(word.rstrip(".,;:!?\"'«»()¿¡۔؟،"))
    start, end = start + lead, end - trail
    return (start, end) if end > start else None


def make_simaligner(cfg: dict[str, Any], aligner: Any = None) -> Callable[..., Alignment | None]:
    """An aligner for pipeline.align: English fills + labels and translated fills -> Alignment or None."""
    if aligner is None:
        aligner, matching = load_aligner(cfg)
    else:
        matching = cfg.get("matching", "itermax")

    def span(src: str, label: str, tgt: str) -> tuple[int, int] | None:
        src_words, tgt_words = src.split(), tgt.split()
        idx = _label_words(src_words, label)
        if not idx or not tgt_words:
            return None
        return aligned_span(aligner.get_word_aligns(src_words, tgt_words)[matching], idx, tgt)

    def align(src_high: str, src_low: str, en_high: str, en_low: str, high: str, low: str) -> Alignment | None:
        sh, sl = span(src_high, en_high, high), span(src_low, en_low, low)
        if sh is None or sl is None:
            return None
        # The mask is only trustworthy where both fills share the context around it.
        if high[:sh[0]] != low[:sl[0]] or high[sh[1]:] != low[sl[1]:]:
            return None
        return Alignment(high[:sh[0]] + MASK + high[sh[1]:], high[sh[0]:sh[1]], low[sl[0]:sl[1]], "simalign", False)

    return align
