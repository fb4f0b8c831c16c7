"""Tiny masked LMs, their tokenizers and a small probe table, built offline in seconds.

Three families, each with its own kind of tokenizer made with the `tokenizers` library or from
plain vocabulary files: BERT (WordPiece, uncased like mBERT), XLM-R (SentencePiece-style
Unigram) and XLM (BPE with </w> word ends, the slow Python tokenizer without offsets).
Words split into pieces as SPLITS says, so multi-token labels and a Turkish label followed by a
suffix inside its word ("önemli" + "dir") occur; the letter in MISSING is left out of every
vocabulary so that a label holds the unknown token.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

import polars as pl
import torch

from pipeline.common import MASK

FAMILIES = ("bert", "xlmr", "xlm")
HIDDEN, LAYERS, HEADS, FFN, POSITIONS = 32, 2, 2, 64, 128

# (id, survey, question, category) of the three probes, the same in every language.
ITEMS = [("hofstede_01", "hofstede", "01", "pdi"), ("wvs_Q1", "wvs", "Q1", "social_values"),
         ("wvs_Q57", "wvs", "Q57", "social_capital")]
# language -> per item (probe, label_high, label_low); English first (it is the source).
PROBES: dict[str, list[tuple[str, str, str]]] = {
    "en": [("Free time is [MASK] to me.", "unimportant", "important"),
           ("Family is [MASK] in my life.", "unimportant", "important"),
           ("Most people can be [MASK].", "doubted", "trusted")],
    "tr": [("Boş zaman benim için [MASK]dir.", "önemsiz", "önemli"),
           ("Aile hayatımda [MASK]dir.", "önemsiz", "önemli"),
           ("Çoğu insan [MASK]dir.", "şüpheli", "güvenilir")],
    "vi": [("Thời gian rảnh [MASK] với tôi.", "không quan trọng", "quan trọng"),
           ("Gia đình [MASK] trong đời tôi.", "không quan trọng", "quan trọng"),
           ("Đây là điều [MASK].", "mới", "mỗi")],  # one word under uncased mBERT's accent stripping
    "bn": [("অবসর আমার কাছে [MASK]।", "গুরুত্বহীন", "গুরুত্বপূর্ণ"),
           ("পরিবার আমার জীবনে [MASK]।", "গুরুত্বহীন", "গুরুত্বপূর্ণ"),
           ("বেশিরভাগ মানুষ [MASK]।", "সন্দেহজনক", "বিশ্বাসযোগ্য")],
}
COUNTRIES = {"en": None, "tr": "TUR", "vi": "VNM", "bn": "BGD"}
# Words that split into several pieces (the first starts the word); others are one piece.
SPLITS = {"unimportant": ["un", "important"], "önemli": ["önem", "li"], "önemsiz": ["önem", "siz"],
          "güvenilir": ["güven", "ilir"], "şüpheli": ["şüphe", "li"], "trusted": ["trust", "ed"]}
SUFFIXES = ["dir"]  # pieces that continue a word (the Turkish copula after an attached mask)
MISSING = "ণ"  # in no vocabulary: "গুরুত্বপূর্ণ" holds the unknown token
_WORD = re.compile(r"[^\s.,;:!?।]+|[.,;:!?।]")  # words keep their combining marks (Bengali vowel signs)


def probe_frame() -> pl.DataFrame:
    """The probes as a dataset table (ProbeRow columns), every language, both surveys."""
    rows = []
    for lang, probes in PROBES.items():
        for (pid, survey, question, category), (probe, high, low), en in zip(ITEMS, probes, PROBES["en"]):
            rows.append({"id": pid, "survey": survey, "question": question, "category": category, "language": lang,
                         "country": COUNTRIES[lang], "probe": probe, "label_high": high, "label_low": low,
                         "probe_en": en[0], "label_high_en": en[1], "label_low_en": en[2], "scale_min": 1,
                         "scale_max": 4, "translation_source": "source" if lang == "en" else "curated",
                         "align_method": "source" if lang == "en" else "contrastive",
                         "mask_attached": MASK + "dir" in probe})
    return pl.DataFrame(rows, schema_overrides={"country": pl.String, "scale_min": pl.Int64, "scale_max": pl.Int64})


def write_hub(df: pl.DataFrame, data_dir: Path) -> None:
    """Write the table as the dataset stage does: <data_dir>/<lang>/<survey>.parquet."""
    for (lang, survey), part in df.group_by("language", "survey", maintain_order=True):
        (data_dir / lang).mkdir(parents=True, exist_ok=True)
        part.write_parquet(data_dir / lang / f"{survey}.parquet")


def corpus_words(extra: list[str] = ()) -> list[str]:
    """Every word of the probes and labels, in first-seen order."""
    seen: dict[str, None] = {}
    for probes in PROBES.values():
        for probe, high, low in probes:
            for text in (probe.replace(MASK, " "), high, low, *extra):
                for w in _WORD.findall(text):
                    seen.setdefault(w, None)
    return list(seen)


def _pieces(word: str) -> list[str]:
    return SPLITS.get(word, [word])


def _chars(words: list[str]) -> list[str]:
    return sorted({c for w in words for c in w} - {MISSING})


def bert_tokenizer(words: list[str]):
    """Uncased WordPiece like mBERT's: lowercases and strips accents (and Bengali virama)."""
    from tokenizers.normalizers import BertNormalizer
    from transformers import BertTokenizer

    norm = BertNormalizer(lowercase=True, strip_accents=True).normalize_str
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    for w in words:
        pieces = [norm(p) for p in _pieces(w)]
        vocab += [pieces[0]] + ["##" + p for p in pieces[1:]]
    vocab += ["##" + norm(s) for s in SUFFIXES]
    chars = sorted({norm(c) for c in _chars(words)} - {"", norm(MISSING)})
    vocab += chars + ["##" + c for c in chars]
    vocab = list(dict.fromkeys(v for v in vocab if MISSING not in v))
    return BertTokenizer(vocab={v: i for i, v in enumerate(vocab)}, do_lower_case=True)


def slow_bert_tokenizer(words: list[str], folder: Path):
    """The same WordPiece vocabulary in transformers' Python BERT tokenizer (no offsets)."""
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    vocab = bert_tokenizer(words).get_vocab()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("".join(t + "\n" for t in sorted(vocab, key=vocab.get)), encoding="utf-8")
    return BertTokenizerLegacy(str(folder / "vocab.txt"), do_lower_case=True)


def xlmr_tokenizer(words: list[str]):
    """SentencePiece-style Unigram with "▁" word starts, cased, like XLM-R's."""
    from transformers import XLMRobertaTokenizer

    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -5.0)]
    for w in words:
        pieces = _pieces(w)
        vocab += [("▁" + pieces[0], -1.0)] + [(p, -1.0) for p in pieces[1:]]
    vocab += [(s, -1.0) for s in SUFFIXES]
    vocab += [(c, -8.0) for c in _chars(words)] + [("▁" + c, -8.0) for c in _chars(words)]
    seen: dict[str, float] = {}
    for piece, score in vocab:
        if MISSING not in piece:
            seen.setdefault(piece, score)
    return XLMRobertaTokenizer(vocab=[*seen.items(), ("<mask>", 0.0)])


def xlm_tokenizer(words: list[str], folder: Path):
    """BPE with </w> word ends and hand-made merges, as XLM-100's (cased, no accent stripping)."""
    from transformers import XLMTokenizer

    specials = ["<s>", "</s>", "<pad>", "<unk>"] + [f"<special{i}>" for i in range(10)]
    vocab = {t: i for i, t in enumerate(specials)}
    merges: list[tuple[str, str]] = []

    def build(piece: str, final: bool) -> None:
        syms = list(piece)
        if final:
            syms[-1] += "</w>"
        for s in syms:
            vocab.setdefault(s, len(vocab))
        cur = syms[0]
        for s in syms[1:]:
            if (cur, s) not in merges:
                merges.append((cur, s))
            cur += s
            vocab.setdefault(cur, len(vocab))

    for c in _chars(words):
        build(c, True)
        build(c, False)
    for w in words:
        pieces = _pieces(w)
        for i, p in enumerate(pieces):
            build(p, final=i == len(pieces) - 1)
            if i == len(pieces) - 1:
                build(p, final=False)  # the same piece before an attached suffix ("önemli" + "dir")
    for s in SUFFIXES:
        build(s, final=True)
    vocab = {t: i for t, i in vocab.items() if MISSING not in t}
    vocab = {t: i for i, t in enumerate(vocab)}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    return XLMTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), do_lowercase_and_remove_accent=False)


def _model(family: str, tokenizer, vocab_size: int, hidden: int, layers: int, heads: int, ffn: int):
    from transformers import (BertConfig, BertForMaskedLM, XLMConfig, XLMRobertaConfig, XLMRobertaForMaskedLM,
                              XLMWithLMHeadModel)

    if family == "bert":
        cfg = BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                         intermediate_size=ffn, max_position_embeddings=POSITIONS, pad_token_id=tokenizer.pad_token_id)
        return BertForMaskedLM(cfg)
    if family == "xlmr":
        cfg = XLMRobertaConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                               num_attention_heads=heads, intermediate_size=ffn, max_position_embeddings=POSITIONS + 2,
                               pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                               eos_token_id=tokenizer.eos_token_id)
        return XLMRobertaForMaskedLM(cfg)
    cfg = XLMConfig(vocab_size=vocab_size, emb_dim=hidden, n_layers=layers, n_heads=heads,
                    max_position_embeddings=POSITIONS, use_lang_emb=False, n_langs=1, pad_index=tokenizer.pad_token_id,
                    unk_index=tokenizer.unk_token_id, mask_index=tokenizer.mask_token_id, bos_index=tokenizer.bos_token_id,
                    eos_index=tokenizer.sep_token_id)
    return XLMWithLMHeadModel(cfg)


TOKENIZERS: dict[str, Callable] = {"bert": bert_tokenizer, "xlmr": xlmr_tokenizer}


def build_tokenizer(family: str, folder: Path, words: list[str] | None = None):
    """A tiny tokenizer of one family (or `bert_slow`) over the probe corpus (plus `words`)."""
    words = corpus_words() + list(words or [])
    if family == "xlm":
        return xlm_tokenizer(words, folder)
    if family == "bert_slow":
        return slow_bert_tokenizer(words, folder)
    return TOKENIZERS[family](words)


def build_model(family: str, folder: Path, *, seed: int = 0, prefer: dict[str, float] | None = None,
                hidden: int = HIDDEN, layers: int = LAYERS, heads: int = HEADS, ffn: int = FFN) -> Path:
    """Save a randomly initialised tiny masked LM and its tokenizer to `folder`; returns it.

    prefer: word -> bias added to the output logit of each of the word's tokens (a rigged model).
    """
    folder = Path(folder)
    tokenizer = build_tokenizer(family, folder)
    torch.manual_seed(seed)
    model = _model(family, tokenizer, len(tokenizer), hidden, layers, heads, ffn).eval()
    bias = model.get_output_embeddings().bias
    with torch.no_grad():
        for word, value in (prefer or {}).items():
            for tid in tokenizer(word, add_special_tokens=False)["input_ids"]:
                bias[tid] += value
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
