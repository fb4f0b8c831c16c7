"""Label log-probabilities for many fills: one forward pass per distinct masked input, length-sorted batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from pipeline.score_model import SiteScorer
from pipeline.score_tokens import Fill

MULTI_TOKEN = ("mean", "sum", "pll")
# Every input is padded to its length rounded up to this multiple, whatever its batch: attention
# sums over padded keys in another order than over unpadded ones (last-bit differences), so a
# fixed width per input keeps its score independent of its batch-mates. Batches never mix widths;
# few distinct widths also keep the CPU kernels' per-shape setup cost down.
PAD_MULTIPLE = 8


@dataclass(frozen=True)
class Plan:
    """Distinct model inputs, the (input, position) sites to read, and what each fill needs from them."""

    inputs: list[tuple[int, ...]]  # distinct masked inputs (token ids)
    input_langs: list[int | None]  # language id per input, for models with language embeddings
    site_input: list[int]  # site -> input index
    site_pos: list[int]  # site -> token position in that input
    req_site: list[int]  # request -> site
    req_target: list[int]  # request -> token id whose log-prob is wanted
    fill_reqs: list[list[int]]  # fill -> its requests (one per label token)


def plan(fills: Sequence[Fill], method: str, mask_id: int, langs: Sequence[int | None] | None = None) -> Plan:
    """The passes each fill needs; identical inputs (e.g. high and low fills of equal length) are shared.

    mean/sum: one pass with all k label tokens masked. pll: k passes, the t-th with the first t label
    tokens revealed (chain rule, left to right).
    """
    inputs: dict[tuple[int | None, tuple[int, ...]], int] = {}
    sites: dict[tuple[int, int], int] = {}
    p = Plan([], [], [], [], [], [], [])

    def input_index(ids: tuple[int, ...], lang: int | None) -> int:
        key = (lang, ids)
        if key not in inputs:
            inputs[key] = len(p.inputs)
            p.inputs.append(ids)
            p.input_langs.append(lang)
        return inputs[key]

    def request(inp: int, pos: int, target: int) -> int:
        if (inp, pos) not in sites:
            sites[(inp, pos)] = len(p.site_input)
            p.site_input.append(inp)
            p.site_pos.append(pos)
        p.req_site.append(sites[(inp, pos)])
        p.req_target.append(target)
        return len(p.req_site) - 1

    for j, fill in enumerate(fills):
        lang = langs[j] if langs is not None else None
        reqs = []
        if method == "pll":
            for t, (pos, target) in enumerate(zip(fill.positions, fill.targets)):
                reqs.append(request(input_index(fill.masked(mask_id, reveal=t), lang), pos, target))
        else:
            inp = input_index(fill.masked(mask_id), lang)
            reqs = [request(inp, pos, target) for pos, target in zip(fill.positions, fill.targets)]
        p.fill_reqs.append(reqs)
    return p


def padded_width(length: int) -> int:
    """The width an input of `length` tokens is always padded to."""
    return -(-length // PAD_MULTIPLE) * PAD_MULTIPLE


def batches(lengths: Sequence[int], batch_size: int) -> list[tuple[list[int], int]]:
    """(input indices, padded width) per batch: one width per batch, inputs sorted by length then index."""
    order = sorted(range(len(lengths)), key=lambda i: (padded_width(lengths[i]), lengths[i], i))
    out: list[tuple[list[int], int]] = []
    for i in order:
        width = padded_width(lengths[i])
        if not out or out[-1][1] != width or len(out[-1][0]) == batch_size:
            out.append(([], width))
        out[-1][0].append(i)
    return out


def run(p: Plan, scorer: SiteScorer, pad_id: int, batch_size: int,
        progress: Callable[[int], Any] | None = None) -> np.ndarray:
    """Log-probability of every request, float32, computed batch by batch."""
    out = np.zeros(len(p.req_site), dtype=np.float32)
    input_sites: list[list[int]] = [[] for _ in p.inputs]
    for s, inp in enumerate(p.site_input):
        input_sites[inp].append(s)
    site_reqs: list[list[int]] = [[] for _ in p.site_input]
    for r, s in enumerate(p.req_site):
        site_reqs[s].append(r)
    use_langs = any(lang is not None for lang in p.input_langs)
    for batch, width in batches([len(x) for x in p.inputs], batch_size):
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            ids[row, :len(p.inputs[i])] = torch.tensor(p.inputs[i])
            mask[row, :len(p.inputs[i])] = 1
        langs = None
        if use_langs:
            langs = torch.tensor([[p.input_langs[i] or 0] * width for i in batch], dtype=torch.long)
            langs = langs.to(scorer.device)
        rows, cols, reqs, req_rows = [], [], [], []
        for row, i in enumerate(batch):
            for s in input_sites[i]:
                for r in site_reqs[s]:
                    reqs.append(r)
                    req_rows.append(len(rows))
                rows.append(row)
                cols.append(p.site_pos[s])
        lp = scorer.log_probs(ids.to(scorer.device), mask.to(scorer.device),
                              torch.tensor(rows), torch.tensor(cols), langs)
        targets = torch.tensor([p.req_target[r] for r in reqs], device=lp.device)
        out[reqs] = lp[torch.tensor(req_rows, device=lp.device), targets].cpu().numpy()
        if progress is not None:
            progress(len(batch))
    return out


def aggregate(p: Plan, req_lp: np.ndarray, method: str) -> np.ndarray:
    """Each fill's label log-probability (float64): mean of its k token log-probs, or their sum (sum, pll)."""
    vals = req_lp.astype(np.float64)
    reduce = np.mean if method == "mean" else np.sum
    return np.array([reduce(vals[r]) for r in p.fill_reqs], dtype=np.float64)
