"""Machine-translation backends fill only what the memory lacks, append with provenance, lose nothing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import BartConfig, BartForConditionalGeneration, PreTrainedTokenizerFast

from pipeline.common import PipelineError
from pipeline.fill_memory import GoogleBackend, HFBackend, fill
from pipeline.translate import read_memory
from tests.test_translate_align import DE, TEMPLATES, write_memory

WORDS = ["familie", "ist", "wichtig", "unwichtig", "leben", "ich", "bin", "stolz", "sehr", "nicht", "meinem", "in",
         "family", "is", "important", "unimportant", "my", "life", "i", "am", "proud", "of", "very", "not", "nationality", "."]


@pytest.fixture(scope="module")
def tiny_mt(tmp_path_factory):
    """A randomly initialised BART with a word-level tokenizer: a real seq2seq model, built offline."""
    path = tmp_path_factory.mktemp("tiny_mt")
    vocab = {t: i for i, t in enumerate(["<pad>", "<s>", "</s>", "<unk>"] + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(path)
    config = BartConfig(vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
                        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=None)
    import torch

    torch.manual_seed(0)
    model = BartForConditionalGeneration(config)
    with torch.no_grad():  # never emit EOS or specials early, so every output is a non-empty sentence
        model.final_logits_bias[0, :4] = -1e4
    model.save_pretrained(path)
    return path


def test_hf_backend_fills_then_adds_nothing(tmp_path, tiny_mt):
    curated = {k: v for k, v in list(DE.items())[:4]}
    path = write_memory(tmp_path / "de.tsv", curated)
    before = path.read_text(encoding="utf-8")
    backend = HFBackend(str(tiny_mt), "main", "de")
    backend.max_new_tokens = 6
    added, rejected = fill("de", backend, path, TEMPLATES, batch_size=3, today="2026-12-04")
    assert added == 4 and rejected == []
    text = path.read_text(encoding="utf-8")
    assert text.startswith(before)  # curated lines untouched, new ones appended
    memory = read_memory(path, "de")
    assert memory.height == 8
    new = memory.filter(memory["provenance"] != "curated")
    assert new["provenance"].str.starts_with(f"hf:{tiny_mt}@").all()
    assert new["provenance"].str.ends_with(" 2026-12-04").all()
    assert (new["target"].str.len_chars() > 0).all()
    again, _ = fill("de", backend, path, TEMPLATES, batch_size=3, today="2026-12-05")
    assert again == 0 and path.read_text(encoding="utf-8") == text


class FakeGoogle:
    """A stand-in Cloud Translation client: records requests, answers from a dictionary, can fail."""

    def __init__(self, table, fail_after=None):
        self.table, self.fail_after, self.requests = table, fail_after, []

    def translate_text(self, request):
        if self.fail_after is not None and len(self.requests) >= self.fail_after:
            raise ConnectionError("service unreachable")
        self.requests.append(request)
        return SimpleNamespace(translations=[SimpleNamespace(translated_text=self.table[s]) for s in request["contents"]])


def test_google_backend_request_and_failure_keeps_work(tmp_path):
    path = tmp_path / "de.tsv"
    client = FakeGoogle(DE, fail_after=1)
    backend = GoogleBackend("de", "proj-1", client=client)
    with pytest.raises(PipelineError, match=r"translation call failed.*4 new line\(s\) were already saved"):
        fill("de", backend, path, TEMPLATES, batch_size=4, today="2026-12-04")
    req = client.requests[0]
    assert req["parent"] == "projects/proj-1/locations/global"
    assert (req["source_language_code"], req["target_language_code"], req["mime_type"]) == ("en", "de", "text/plain")
    assert read_memory(path, "de").height == 4  # the first batch survived the failure
    client.fail_after = None
    added, _ = fill("de", backend, path, TEMPLATES, batch_size=4, today="2026-12-04")
    memory = read_memory(path, "de")
    assert added == 4 and memory.height == 8 and set(memory["provenance"]) == {"google:translate-v3 2026-12-04"}


def test_wrong_script_translation_rejected_not_written(tmp_path):
    table = dict(DE, **{"unimportant": "неважно"})  # Cyrillic in a German memory
    path = tmp_path / "de.tsv"
    added, rejected = fill("de", GoogleBackend("de", "p", client=FakeGoogle(table)), path, TEMPLATES, today="2026-12-04")
    assert added == 7 and len(rejected) == 1 and "неважно" in rejected[0]
    assert "неважно" not in path.read_text(encoding="utf-8")


def test_google_needs_project(monkeypatch):
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with pytest.raises(PipelineError, match="GOOGLE_CLOUD_PROJECT"):
        GoogleBackend("de", None, client=object())


def test_unloadable_mt_model(tmp_path):
    with pytest.raises(PipelineError, match="could not be loaded"):
        HFBackend(str(tmp_path / "missing"), "main", "de")
