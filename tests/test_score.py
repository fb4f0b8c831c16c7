"""Scoring stage: fill-then-mask placement, batched scores against a plain reference, flags, errors, DVC."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
import yaml
from transformers import AutoModelForMaskedLM, AutoTokenizer

from pipeline.common import ROOT, PipelineError, validate, write_parquet
from pipeline.score import load_probes, main, score_params, score_probes
from pipeline.score_batch import MULTI_TOKEN, plan
from pipeline.score_model import SiteScorer, load_masked_lm, resolve_device
from pipeline.score_tokens import encode_fills, surface
from schemas.scores import ScoreRow
from tests.tiny_models import FAMILIES, build_model, probe_frame, write_hub


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """One tiny model folder per tokenizer family."""
    root = tmp_path_factory.mktemp("tiny")
    return {fam: build_model(fam, root / fam, seed=1) for fam in FAMILIES}


@pytest.fixture(scope="module")
def loaded(tiny) -> dict[str, tuple]:
    return {fam: (AutoTokenizer.from_pretrained(p), AutoModelForMaskedLM.from_pretrained(p).eval())
            for fam, p in tiny.items()}


@pytest.fixture(scope="module")
def probes() -> pl.DataFrame:
    return probe_frame()


def reference(tokenizer, model, df: pl.DataFrame, side: str, method: str) -> list[float]:
    """Per probe, unbatched: full model forward, full logits, log-softmax at each masked label token."""
    out = []
    fills = encode_fills(tokenizer, df["probe"].to_list(), df[side].to_list())
    with torch.no_grad():
        for f in fills:
            terms = []
            passes = range(len(f.positions)) if method == "pll" else [0]
            for t in passes:
                ids = torch.tensor([f.masked(tokenizer.mask_token_id, reveal=t)])
                logp = torch.log_softmax(model(input_ids=ids).logits[0], dim=-1)
                wanted = [(f.positions[t], f.targets[t])] if method == "pll" else zip(f.positions, f.targets)
                terms += [float(logp[pos, tok]) for pos, tok in wanted]
            out.append(float(np.mean(terms)) if method == "mean" else float(np.sum(terms)))
    return out


def assert_matches_reference(got: pl.DataFrame, tokenizer, model, df: pl.DataFrame, method: str) -> None:
    want = df.select("id", "language").with_columns(
        lp_high_ref=pl.Series(reference(tokenizer, model, df, "label_high", method)),
        lp_low_ref=pl.Series(reference(tokenizer, model, df, "label_low", method)))
    joined = got.join(want, on=["id", "language"])
    assert joined.height == df.height
    np.testing.assert_allclose(joined["lp_high"], joined["lp_high_ref"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(joined["lp_low"], joined["lp_low_ref"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("method", MULTI_TOKEN)
@pytest.mark.parametrize("family", FAMILIES)
def test_batched_scores_equal_plain_reference(loaded, probes, family, method):
    tok, model = loaded[family]
    got = score_probes(probes, tok, model, multi_token=method, batch_size=4)
    assert_matches_reference(got, tok, model, probes, method)
    assert (got["score"] == got["lp_high"] - got["lp_low"]).all() and (got["high_only"] == got["lp_high"]).all()
    validate(got, ScoreRow, "test")


@pytest.mark.parametrize("method", ["mean", "pll"])
@pytest.mark.parametrize("family", FAMILIES)
def test_batch_size_does_not_change_scores(loaded, probes, family, method):
    tok, model = loaded[family]
    one = score_probes(probes, tok, model, multi_token=method, batch_size=1)
    for n in (3, 64):
        assert one.equals(score_probes(probes, tok, model, multi_token=method, batch_size=n)), n


def test_head_only_for_known_heads_and_full_logits_otherwise(loaded, probes, tiny):
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    for fam in FAMILIES:
        tok, model = loaded[fam]
        assert SiteScorer(model, tok, torch.device("cpu")).head_only, fam
    # An architecture without a known head attribute: scored through its full logits, still right.
    tok = loaded["bert"][0]
    torch.manual_seed(0)
    other = DistilBertForMaskedLM(DistilBertConfig(vocab_size=len(tok), dim=32, n_layers=2, n_heads=2,
                                                   hidden_dim=64, max_position_embeddings=128)).eval()
    assert not SiteScorer(other, tok, torch.device("cpu")).head_only
    assert_matches_reference(score_probes(probes, tok, other, batch_size=5), tok, other, probes, "mean")


TURKISH = {"bert": ["onem", "##li"], "xlmr": ["▁önem", "li"], "xlm": ["önem", "li"]}
SUFFIX = {"bert": "##dir", "xlmr": "dir", "xlm": "dir</w>"}


@pytest.mark.parametrize("family", FAMILIES)
def test_mask_covers_exactly_the_label_before_an_attached_suffix(family, tmp_path):
    from tests.tiny_models import build_tokenizer

    tok = build_tokenizer(family, tmp_path, words=["Bu", "çok"])
    (fill,) = encode_fills(tok, ["Bu çok [MASK]dir."], ["önemli"])
    tokens = tok.convert_ids_to_tokens(list(fill.ids))
    assert [tokens[p] for p in fill.positions] == TURKISH[family]
    assert tokens[fill.positions[-1] + 1] == SUFFIX[family]
    masked = tok.convert_ids_to_tokens(list(fill.masked(tok.mask_token_id)))
    assert [i for i, t in enumerate(masked) if t == tok.mask_token] == list(fill.positions)
    assert not fill.straddle and not fill.unk


@pytest.mark.parametrize("family", FAMILIES)
def test_masked_tokens_spell_the_label_everywhere(loaded, probes, family):
    tok = loaded[family][0]
    for side in ("label_high", "label_low"):
        for f, label in zip(encode_fills(tok, probes["probe"].to_list(), probes[side].to_list()), probes[side]):
            tokens = tok.convert_ids_to_tokens(list(f.ids))
            label_tokens = [tokens[p] for p in f.positions]
            assert f.positions == tuple(range(f.positions[0], f.positions[-1] + 1))
            if not f.unk:  # the label's tokens spell the label as the tokenizer writes it alone
                assert surface(tok, label_tokens) == surface(tok, tok.tokenize(label)), (family, label, tokens)


@pytest.mark.parametrize("family", ["bert", "xlmr", "bert_slow"])
def test_token_across_the_label_end_is_masked_and_flagged(family, tmp_path, monkeypatch):
    import tests.tiny_models as tm

    monkeypatch.setattr(tm, "SUFFIXES", [*tm.SUFFIXES, "lidir"])  # "önem|lidir": one token spans label and suffix
    tok = tm.build_tokenizer(family, tmp_path, words=["Bu", "çok"])
    (fill,) = encode_fills(tok, ["Bu çok [MASK]dir."], ["önemli"])
    assert surface(tok, tok.convert_ids_to_tokens(list(fill.targets))) == surface(tok, tok.tokenize("önemlidir"))
    assert fill.straddle


def test_slow_tokenizer_path_agrees_with_offsets(probes, tmp_path):
    from tests.tiny_models import build_tokenizer

    fast, slow = build_tokenizer("bert", tmp_path), build_tokenizer("bert_slow", tmp_path)
    assert fast.is_fast and not slow.is_fast
    for side in ("label_high", "label_low"):
        texts, labels = probes["probe"].to_list() + ["Bu çok [MASK]dir."], probes[side].to_list() + ["önemli"]
        assert encode_fills(slow, texts, labels) == encode_fills(fast, texts, labels)


def test_multiword_label_gets_one_mask_per_token(loaded):
    tok = loaded["bert"][0]
    (f,) = encode_fills(tok, ["Gia đình [MASK] trong đời tôi."], ["không quan trọng"])
    assert tok.convert_ids_to_tokens(list(f.targets)) == ["khong", "quan", "trong"]


def test_tokenizer_flags(loaded, probes):
    flags = {fam: score_probes(probes, *loaded[fam], batch_size=8) for fam in FAMILIES}
    bert = flags["bert"]
    collide = bert.filter(pl.col("labels_collide"))
    # Uncased mBERT-style normalisation strips Vietnamese diacritics: "mới" and "mỗi" become one token.
    assert collide.select("language", "id").rows() == [("vi", "wvs_Q57")]
    assert collide["score"].to_list() == [0.0]
    assert not flags["xlmr"]["labels_collide"].any() and not flags["xlm"]["labels_collide"].any()
    for fam, df in flags.items():  # the letter missing from every vocabulary makes "গুরুত্বপূর্ণ" unknown
        assert sorted(df.filter(pl.col("unk_low"))["id"].to_list()) == ["hofstede_01", "wvs_Q1"], fam
        assert set(df.filter(pl.col("unk_low"))["language"]) == {"bn"}
        assert not df["unk_high"].any()


def test_distinct_masked_inputs_share_one_pass(loaded, probes):
    tok = loaded["bert"][0]
    fills = encode_fills(tok, probes["probe"].to_list() * 2,
                         probes["label_high"].to_list() + probes["label_low"].to_list())
    p = plan(fills, "mean", tok.mask_token_id)
    distinct = {f.masked(tok.mask_token_id) for f in fills}
    assert len(p.inputs) == len(distinct) < len(fills)


@pytest.mark.parametrize("family", FAMILIES)
def test_rigged_model_gives_the_expected_sign(family, tmp_path, probes):
    # "important" is the low label of two English probes, "doubted" the high label of the third.
    path = build_model(family, tmp_path / family, seed=2, prefer={"important": 12.0, "doubted": 12.0})
    tok, model = AutoTokenizer.from_pretrained(path), AutoModelForMaskedLM.from_pretrained(path)
    en = score_probes(probes.filter(pl.col("language") == "en"), tok, model, batch_size=8)
    sign = dict(zip(en["id"], np.sign(en["score"].to_numpy())))
    assert sign == {"hofstede_01": -1, "wvs_Q1": -1, "wvs_Q57": 1}


def test_output_bytes_are_identical_on_rerun(loaded, probes, tmp_path):
    tok, model = loaded["xlmr"]
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_parquet(score_probes(probes, tok, model, batch_size=3), a)
    write_parquet(score_probes(probes.reverse(), tok, model, batch_size=3), b)
    assert a.read_bytes() == b.read_bytes()


# --- bad input ---------------------------------------------------------------------------------

def write_params(tmp_path: Path, **score) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["score"].update(score)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


def test_unknown_multi_token_is_an_error(tmp_path):
    with pytest.raises(PipelineError, match=r"score.multi_token` is 'max'; use one of: mean, sum, pll"):
        score_params("mbert", write_params(tmp_path, multi_token="max"))


def test_unknown_model_key_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no_such_key"])
    assert exc.value.code == 2
    assert "no model `no_such_key` under `score.models`" in capsys.readouterr().err


def test_cuda_asked_for_but_absent(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(PipelineError, match="`score.device` is cuda, but torch sees no CUDA device"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


def test_not_a_masked_lm(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2, n_positions=32)).save_pretrained(tmp_path)
    with pytest.raises(PipelineError, match=r"is not a masked language model \(its config is GPT2Config"):
        load_masked_lm(str(tmp_path), "main", "gpt")


def test_dataset_row_failing_the_schema(tmp_path, probes):
    bad = probes.with_columns(
        pl.when((pl.col("language") == "tr") & (pl.col("id") == "wvs_Q1")).then(pl.lit("[MASK] ve [MASK]"))
        .otherwise(pl.col("probe")).alias("probe"))
    write_hub(bad, tmp_path / "data")
    with pytest.raises(PipelineError) as exc:
        load_probes(ROOT / "params.yaml", tmp_path / "data")
    assert "column 'probe' fails one_mask" in str(exc.value) and "id=wvs_Q1" in str(exc.value)


def test_load_probes_reads_every_language_and_survey_in_order(tmp_path, probes):
    write_hub(probes, tmp_path / "data")
    got = load_probes(ROOT / "params.yaml", tmp_path / "data")
    assert got.height == probes.height
    assert got.select("language", "survey").unique(maintain_order=True).rows() == [
        (lang, s) for lang in sorted(probes["language"].unique()) for s in ("hofstede", "wvs")]


def test_load_probes_from_the_hub_pins_repo_and_revision(tmp_path, probes, monkeypatch):
    import datasets

    calls = []

    def fake_load(repo_id, config, revision=None, **kwargs):
        calls.append((repo_id, config, revision))
        return datasets.DatasetDict({s: datasets.Dataset(probes.filter(pl.col("survey") == s).to_arrow())
                                     for s in ("hofstede", "wvs")})

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["dataset"].update(source="hub", repo_id="test-org/value-probes", revision="0123abcd")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    got = load_probes(path, tmp_path / "nowhere")
    assert calls == [("test-org/value-probes", "all", "0123abcd")]
    assert got.height == probes.height and got["language"].to_list() == sorted(got["language"].to_list())


# --- the DVC stage, end to end, in a copy of the repo ---------------------------------------------

COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "build", ".dvc/cache", ".dvc/tmp", "__pycache__",
                                     ".pytest_cache", "dvc_plots", "benchmarks", "metrics")


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory, tiny) -> Path:
    """The working tree in a fresh git repo, with a prebuilt build/hub and params naming the tiny BERT."""
    repo = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT, repo, ignore=COPY_IGNORE, dirs_exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    write_hub(probe_frame(), repo / "build" / "hub" / "data")
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    params["score"]["models"] = {"tiny": {"name": str(tiny["bert"]), "revision": "main"},
                                 "missing": {"name": "value-probes-test/no-such-model", "revision": "0123abc"}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return repo


def _env() -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}", "HF_HUB_OFFLINE": "1",
            "DVC_NO_ANALYTICS": "1"}


@pytest.mark.slow
def test_dvc_repro_score_stage(repo_copy):
    dvc = Path(sys.executable).parent / "dvc"
    # --single-item: build/hub is prebuilt here, so the upstream dataset stages are not re-run.
    run = subprocess.run([str(dvc), "repro", "--single-item", "score@tiny"], cwd=repo_copy, env=_env(),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    out = pl.read_parquet(repo_copy / "build" / "scores" / "tiny.parquet")
    assert out.height == probe_frame().height
    assert out.columns[:10] == ["id", "language", "survey", "question", "lp_high", "lp_low", "score", "high_only",
                                "n_tokens_high", "n_tokens_low"]
    assert "labels_collide" in run.stdout and "score@tiny" in run.stdout
    assert (repo_copy / "dvc.lock").exists()


@pytest.mark.slow
def test_model_missing_offline_is_a_clear_error(repo_copy):
    run = subprocess.run([sys.executable, "-m", "pipeline.score", "missing"], cwd=repo_copy, env=_env(),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "value-probes-test/no-such-model" in run.stderr and "not in the local Hugging Face cache" in run.stderr
    assert "hf download value-probes-test/no-such-model --revision 0123abc" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (repo_copy / "build" / "scores" / "missing.parquet").exists()
