"""simalign runs offline on a tiny bilingual model the test builds, and places the mask on the label."""

from __future__ import annotations

import polars as pl
import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

from pipeline.align import align_rows
from pipeline.common import PipelineError
from pipeline.word_align import load_aligner, make_simaligner

# English word -> German word; each pair shares one embedding vector, so a layer-0 aligner
# (word embeddings only, positions zeroed) links exactly the translation pairs.
LEXICON = {"family": "familie", "is": "ist", "in": "in", "my": "meinem", "life": "leben",
           "unimportant": "unwichtig", "important": "wichtig", "very": "sehr", "i": "ich", "am": "bin",
           "proud": "stolz", "not": "nicht"}


@pytest.fixture(scope="module")
def tiny_bilingual(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_bilingual")
    words = sorted(set(LEXICON) | set(LEXICON.values()))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","] + words
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True).save_pretrained(path)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    model = BertModel(config)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        emb = model.embeddings
        emb.position_embeddings.weight.zero_()
        emb.token_type_embeddings.weight.zero_()
        table = torch.randn(len(vocab), 32, generator=gen)
        for en, de in LEXICON.items():
            table[vocab.index(de)] = table[vocab.index(en)]
        emb.word_embeddings.weight.copy_(table)
    model.save_pretrained(path)
    return path


def test_simalign_places_mask_on_label(tiny_bilingual):
    align = make_simaligner({"model": str(tiny_bilingual), "layer": 0, "matching": "itermax"})
    # Word order differs from English, so neither position nor string matching could find the label.
    a = align("Family is unimportant in my life.", "Family is important in my life.", "unimportant", "important",
              "In meinem Leben ist Familie unwichtig.", "In meinem Leben ist Familie wichtig.")
    assert a is not None
    assert (a.probe, a.label_high, a.label_low, a.method) == ("In meinem Leben ist Familie [MASK].", "unwichtig", "wichtig", "simalign")


def test_simalign_in_the_chain_after_failed_methods(tiny_bilingual):
    translated = pl.DataFrame({
        "id": ["wvs_Q254"], "language": ["de"],
        "source_high": ["I am not proud."], "source_low": ["I am very proud."],
        "text_high": ["Ich bin nicht stolz."], "text_low": ["Ich bin sehr stolz."],
        # Deliberately unhelpful label translations, so exact matching cannot resolve the row.
        "label_high_alone": ["keineswegs"], "label_low_alone": ["äußerst"], "translation_source": ["curated"],
    })
    english = pl.DataFrame({"id": ["wvs_Q254"], "label_high": ["not"], "label_low": ["very"]})
    aligner = make_simaligner({"model": str(tiny_bilingual), "layer": 0, "matching": "itermax"})
    out = align_rows(translated, {}, ["exact", "normalized", "simalign"], "de", None, aligner, english)
    row = out.row(0, named=True)
    assert (row["probe"], row["label_high"], row["label_low"], row["align_method"]) == (
        "Ich bin [MASK] stolz.", "nicht", "sehr", "simalign")


def test_simalign_layer_deeper_than_model(tiny_bilingual):
    with pytest.raises(PipelineError, match="has only 1 layers"):
        load_aligner({"model": str(tiny_bilingual), "layer": 8})


def test_simalign_unloadable_model_is_clear(tmp_path):
    with pytest.raises(PipelineError, match=r"simalign model .* could not be loaded.*set it to null"):
        load_aligner({"model": str(tmp_path / "no-such-model"), "layer": 8})
