"""Time the score stage's scorer against `transformers.pipeline("fill-mask", targets=...)`, one probe at a time.

Builds a randomly initialised BERT-style masked LM and a WordPiece tokenizer offline, makes
synthetic probes whose two labels are single tokens (where both methods must agree), scores
the same rows both ways, checks that the scores agree and prints the speed ratio.

    .venv/bin/python benchmarks/score_speed.py --size small base --probes 300
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import polars as pl  # noqa: E402
import torch  # noqa: E402

from pipeline.score import score_probes  # noqa: E402
from pipeline.score_model import resolve_device  # noqa: E402

# layers, hidden, heads, feed-forward, vocabulary
SIZES = {
    "small": (4, 256, 4, 1024, 30_000),  # bert-mini-like
    "base": (12, 768, 12, 3072, 120_000),  # mBERT-base-like (its vocabulary is 105k-120k)
}
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCT = list(".,;:!?")
AGREE_ATOL = 1e-4  # both paths are float32; log-prob differences stay far below this


def make_words(n: int, rng: random.Random) -> list[str]:
    """n distinct lower-case pseudo-words."""
    syll = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words: dict[str, None] = {}
    while len(words) < n:
        words.setdefault("".join(rng.choice(syll) for _ in range(rng.randint(1, 4))), None)
    return list(words)


def build(size: str, seed: int):
    """A random masked LM of `size` and an uncased WordPiece tokenizer over its vocabulary."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    layers, hidden, heads, ffn, vocab_size = SIZES[size]
    rng = random.Random(seed)
    chars = sorted(set("abcdefghijklmnopqrstuvwxyz") | set(PUNCT))
    fixed = SPECIALS + chars + ["##" + c for c in chars]
    words = make_words(vocab_size - len(fixed), rng)
    tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(fixed + words)}, do_lower_case=True)
    torch.manual_seed(seed)
    model = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                                       num_attention_heads=heads, intermediate_size=ffn)).eval()
    return tokenizer, model, words


def make_probes(words: list[str], n: int, seed: int) -> pl.DataFrame:
    """n probes of 6-30 words with one [MASK] and two single-token labels."""
    rng = random.Random(seed + 1)
    rows = []
    for i in range(n):
        sent = rng.sample(words, rng.randint(6, 30))
        sent[rng.randrange(len(sent))] = "[MASK]"
        high, low = rng.sample(words, 2)
        rows.append({"id": f"p{i:05d}", "language": "xx", "survey": "wvs", "question": f"Q{i}",
                     "probe": " ".join(sent) + rng.choice(PUNCT), "label_high": high, "label_low": low})
    return pl.DataFrame(rows)


def pipeline_scores(fill_mask, probes: pl.DataFrame, mask_token: str) -> list[float]:
    """log p(high) - log p(low) from the fill-mask pipeline, one call per probe, as a user would."""
    out = []
    for probe, high, low in probes.select("probe", "label_high", "label_low").iter_rows():
        res = fill_mask(probe.replace("[MASK]", mask_token), targets=[high, low], top_k=2)
        p = {r["token_str"]: r["score"] for r in res}
        out.append(math.log(p[high]) - math.log(p[low]))
    return out


def bench(size: str, n: int, batch_size: int, device: torch.device, seed: int, repeat: int = 1) -> float:
    """Time both ways on the same rows (best of `repeat`, alternating); check agreement; return the ratio."""
    from transformers import pipeline

    tokenizer, model, words = build(size, seed)
    probes = make_probes(words, n, seed)
    layers, hidden, heads, ffn, vocab = SIZES[size]
    print(f"\n[{size}] {layers} layers, hidden {hidden}, vocabulary {len(tokenizer):,}; {n} probes; "
          f"device {device}; torch threads {torch.get_num_threads()}")
    fill_mask = pipeline("fill-mask", model=model, tokenizer=tokenizer, device=device)
    warm = probes.head(8)  # first calls pay one-off costs (allocator, kernels) on both sides
    pipeline_scores(fill_mask, warm, tokenizer.mask_token)
    score_probes(warm, tokenizer, model, batch_size=batch_size, device=device)

    t_ours = t_pipe = math.inf
    for _ in range(repeat):  # best of several: other load on the machine only ever adds time
        t0 = time.perf_counter()
        ours = score_probes(probes, tokenizer, model, batch_size=batch_size, device=device)
        t_ours = min(t_ours, time.perf_counter() - t0)
        t0 = time.perf_counter()
        theirs = pipeline_scores(fill_mask, probes, tokenizer.mask_token)
        t_pipe = min(t_pipe, time.perf_counter() - t0)

    ref = probes.select("id").with_columns(pipeline=pl.Series(theirs, dtype=pl.Float64))
    diff = ours.join(ref, on="id").select((pl.col("score") - pl.col("pipeline")).abs().max()).item()
    print(f"  score stage (batch {batch_size}): {t_ours:7.2f} s  ({n / t_ours:8.1f} probes/s)")
    print(f"  fill-mask pipeline, per probe : {t_pipe:7.2f} s  ({n / t_pipe:8.1f} probes/s)")
    print(f"  scores agree: max |difference| = {diff:.2e} (tolerance {AGREE_ATOL:g})")
    if not diff <= AGREE_ATOL:
        raise SystemExit(f"[{size}] scores disagree with the fill-mask pipeline by {diff:.3g}")
    ratio = t_pipe / t_ours
    print(f"  speed-up: {ratio:.1f}x")
    return ratio


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", nargs="+", choices=sorted(SIZES), default=["small", "base"])
    ap.add_argument("--probes", type=int, default=300, help="probes per model (default 300)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="time each side this many times, keep the best")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    ratios = {size: bench(size, args.probes, args.batch_size, device, args.seed, args.repeat) for size in args.size}
    print("\nsummary: " + ", ".join(f"{s} {r:.1f}x" for s, r in ratios.items()))


if __name__ == "__main__":
    main()
