"""Fill then mask: where a label's tokens sit in its filled probe, for any HF tokenizer.

Fast (Rust) tokenizers give character offsets, so a token belongs to the label when its span
overlaps the label's characters. Slow (Python) tokenizers such as XLM's give none: there the
prefix, the prefix plus label and the whole sentence are tokenized with the same tokenizer and
the label's tokens are found by counting the characters each token spells (whitespace ignored),
then checked against the label tokenized alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from pipeline.common import MASK, PipelineError

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Fill:
    """A probe filled with one label, tokenized, and where the label's tokens are."""

    ids: tuple[int, ...]  # the filled sentence, special tokens included
    positions: tuple[int, ...]  # the label's token positions in `ids`, left to right
    unk: bool  # a label token is the tokenizer's unknown token
    straddle: bool  # a label token also spells letters outside the label (e.g. "önem|lidir")

    @property
    def targets(self) -> tuple[int, ...]:
        """The label's token ids, in order."""
        return tuple(self.ids[p] for p in self.positions)

    def masked(self, mask_id: int, reveal: int = 0) -> tuple[int, ...]:
        """The ids with the label's tokens masked, except the first `reveal` of them."""
        hidden = set(self.positions[reveal:])
        return tuple(mask_id if i in hidden else t for i, t in enumerate(self.ids))


def split_probe(probe: str) -> tuple[str, str]:
    """The text before and after the probe's one [MASK]."""
    prefix, sep, suffix = probe.partition(MASK)
    if not sep or MASK in suffix:
        raise PipelineError(f"probe {probe!r} must hold exactly one {MASK}")
    return prefix, suffix


def overlapping(offsets: Sequence[tuple[int, int]], start: int, end: int) -> list[int]:
    """Indices of tokens whose character span overlaps [start, end); special tokens have empty spans."""
    return [i for i, (a, b) in enumerate(offsets) if (a < end and b > start and b > a) or (a == b and start < a < end)]


def _check(positions: list[int], text: str, label: str) -> None:
    if not positions:
        raise PipelineError(f"label {label!r} in {text!r} gives no tokens; the tokenizer drops it entirely")
    if positions != list(range(positions[0], positions[-1] + 1)):
        raise PipelineError(f"label {label!r} in {text!r} maps to non-adjacent tokens {positions}")


def fast_fills(tokenizer: Any, texts: list[str], spans: list[tuple[int, int]], labels: list[str]) -> list[Fill]:
    """Fills for a fast tokenizer, all texts in one call, from character offsets."""
    enc = tokenizer(texts, return_offsets_mapping=True, add_special_tokens=True)
    unk = tokenizer.unk_token_id
    out = []
    for text, (s, e), label, ids, offsets in zip(texts, spans, labels, enc["input_ids"], enc["offset_mapping"]):
        pos = overlapping(offsets, s, e)
        _check(pos, text, label)
        # A span that reaches past the label only by whitespace (SentencePiece's "▁") does not straddle.
        straddle = any(text[offsets[p][0]:s].strip() or text[e:offsets[p][1]].strip() for p in pos)
        out.append(Fill(tuple(ids), tuple(pos), any(ids[p] == unk for p in pos), bool(straddle)))
    return out


def surface(tokenizer: Any, tokens: list[str]) -> str:
    """The characters a token list spells, whitespace removed."""
    return _SPACE.sub("", tokenizer.convert_tokens_to_string(tokens)) if tokens else ""


def slow_fill(tokenizer: Any, prefix: str, label: str, suffix: str) -> Fill:
    """A fill for a tokenizer without offsets, from consistent tokenizations of its pieces."""
    text = prefix + label + suffix
    tokens = tokenizer.tokenize(text)
    start = len(surface(tokenizer, tokenizer.tokenize(prefix))) if prefix.strip() else 0
    end = len(surface(tokenizer, tokenizer.tokenize(prefix + label)))
    cum = [len(surface(tokenizer, tokens[:i])) for i in range(len(tokens) + 1)]
    pos = [i for i in range(len(tokens)) if cum[i] < end and cum[i + 1] > start]
    _check(pos, text, label)
    straddle = cum[pos[0]] < start or cum[pos[-1] + 1] > end
    alone = surface(tokenizer, tokenizer.tokenize(label))
    if not straddle and surface(tokenizer, tokens[pos[0]:pos[-1] + 1]) != alone:
        raise PipelineError(
            f"tokenizer {type(tokenizer).__name__}: the tokens {tokens[pos[0]:pos[-1] + 1]} found for label {label!r} "
            f"in {text!r} do not spell the label tokenized alone ({alone!r}); the tokenizer normalises the label "
            "differently in context. Report this probe; it cannot be scored reliably with this model."
        )
    body = tokenizer.convert_tokens_to_ids(tokens)
    ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
    lead = next((j for j in range(len(ids) - len(body) + 1) if ids[j:j + len(body)] == body), None)
    if lead is None:
        raise PipelineError(f"tokenizer {type(tokenizer).__name__}: encoding {text!r} does not contain its own tokens")
    positions = tuple(lead + p for p in pos)
    unk = tokenizer.unk_token_id
    return Fill(tuple(ids), positions, any(ids[p] == unk for p in positions), straddle)


def encode_fills(tokenizer: Any, probes: list[str], labels: list[str]) -> list[Fill]:
    """Each probe filled with its label, tokenized, with the label's token positions."""
    parts = [split_probe(p) for p in probes]
    if getattr(tokenizer, "is_fast", False):
        texts = [pre + lab + suf for (pre, suf), lab in zip(parts, labels)]
        spans = [(len(pre), len(pre) + len(lab)) for (pre, _), lab in zip(parts, labels)]
        return fast_fills(tokenizer, texts, spans, labels)
    return [slow_fill(tokenizer, pre, lab, suf) for (pre, suf), lab in zip(parts, labels)]
