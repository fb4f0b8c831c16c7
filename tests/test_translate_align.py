"""Translation memory lookup and mask alignment: behaviour and error messages."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipeline.align import align_rows, contrastive, located
from pipeline.common import PipelineError
from pipeline.translate import needed_sentences, read_memory, todo, translate

TEMPLATES = pl.DataFrame({
    "id": ["wvs_Q1", "wvs_Q254"], "survey": ["wvs", "wvs"], "question": ["Q1", "Q254"],
    "category": ["social_values", "political_culture"],
    "probe": ["Family is [MASK] in my life.", "I am [MASK] proud of my nationality."],
    "label_high": ["unimportant", "not"], "label_low": ["important", "very"],
    "scale_min": [1, 1], "scale_max": [4, 4],
})
DE = {
    "Family is unimportant in my life.": "Familie ist in meinem Leben unwichtig.",
    "Family is important in my life.": "Familie ist in meinem Leben wichtig.",
    "unimportant": "unwichtig",
    "important": "wichtig",
    "I am not proud of my nationality.": "Ich bin nicht stolz auf meine Nationalität.",
    "I am very proud of my nationality.": "Ich bin sehr stolz auf meine Nationalität.",
    "not": "nicht",
    "very": "sehr",
}


def write_memory(path: Path, pairs: dict[str, str], extra: str = "") -> Path:
    lines = ["source\ttarget\tprovenance"] + [f"{s}\t{t}\tcurated" for s, t in pairs.items()]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def test_needed_sentences_are_fills_and_labels():
    needed = needed_sentences(TEMPLATES)
    assert needed.filter(pl.col("id") == "wvs_Q1")["source"].to_list() == [
        "Family is unimportant in my life.", "Family is important in my life.", "unimportant", "important"]


def test_translate_and_align_german(tmp_path):
    path = write_memory(tmp_path / "de.tsv", DE)
    out = translate(TEMPLATES, read_memory(path, "de"), "de", path)
    assert out["text_high"].to_list()[0] == "Familie ist in meinem Leben unwichtig."
    assert set(out["translation_source"]) == {"curated"}
    aligned = align_rows(out, {}, ["override", "contrastive", "exact", "normalized"], "de", tmp_path / "de.yaml")
    rows = {r["id"]: r for r in aligned.iter_rows(named=True)}
    assert rows["wvs_Q1"]["probe"] == "Familie ist in meinem Leben [MASK]."
    assert (rows["wvs_Q1"]["label_high"], rows["wvs_Q1"]["label_low"]) == ("unwichtig", "wichtig")
    assert rows["wvs_Q254"]["probe"] == "Ich bin [MASK] stolz auf meine Nationalität."
    assert set(aligned["align_method"]) == {"contrastive"}


def test_missing_translations_listed_all_at_once(tmp_path):
    partial = {k: v for k, v in DE.items() if k not in ("important", "I am very proud of my nationality.")}
    path = write_memory(tmp_path / "de.tsv", partial)
    with pytest.raises(PipelineError) as err:
        translate(TEMPLATES, read_memory(path, "de"), "de", path)
    msg = str(err.value)
    assert "2 sentence(s) missing" in msg and str(path) in msg
    assert "wvs_Q1 (label_low): important" in msg
    assert "wvs_Q254 (low): I am very proud of my nationality." in msg


def test_stale_row_is_an_error(tmp_path):
    path = write_memory(tmp_path / "de.tsv", {**DE, "An old sentence.": "Ein alter Satz."})
    with pytest.raises(PipelineError, match=r"(?s)1 stale row.*line 10: An old sentence"):
        translate(TEMPLATES, read_memory(path, "de"), "de", path)


def test_duplicate_source_and_bad_line(tmp_path):
    path = write_memory(tmp_path / "de.tsv", DE, extra="important\tbedeutend\tcurated\n")
    with pytest.raises(PipelineError, match=r"TSV line 10.*field_uniqueness|TSV line 5.*field_uniqueness"):
        read_memory(path, "de")
    path = write_memory(tmp_path / "de2.tsv", DE, extra="only two\tfields\n")
    with pytest.raises(PipelineError, match=r"line 10: expected 3 tab-separated fields"):
        read_memory(path, "de")


@pytest.mark.parametrize(
    "lang, text, ok",
    [
        ("el", "Η οικογένεια είναι σημαντική στη ζωή μου.", True),
        ("el", "I oikogeneia einai simantiki.", False),  # Greek written in Latin letters
        ("sr", "Породица је важна у мом животу.", True),
        ("sr", "Porodica je važna u mom životu.", False),  # Serbian Latin, not Cyrillic
        ("ro", "Familia este importantă în viața mea.", True),
        ("ro", "Familia este importantă în viaţa mea.", False),  # cedilla ţ instead of comma-below ț
        ("ko", "가족은 내 삶에서 중요하다.", True),
        ("ko", "나는 NATO를 신뢰한다.", True),  # a Latin acronym inside Hangul is fine
        ("de", "Familie ist in meinem Leben wichtig.", True),
        ("de", "Familie ist in meinem Leben ważna.", False),  # a letter German does not use
    ],
)
def test_script_qa(tmp_path, lang, text, ok):
    path = tmp_path / f"{lang}.tsv"
    path.write_text(f"source\ttarget\tprovenance\nFamily is important in my life.\t{text}\tcurated\n", encoding="utf-8")
    if ok:
        assert read_memory(path, lang).height == 1
    else:
        with pytest.raises(PipelineError, match="in_script"):
            read_memory(path, lang)


def test_untranslated_sentence_rejected(tmp_path):
    pairs = {
        "Family is unimportant in my life.": "Keluarga tidak penting dalam hidup saya.",
        "Family is important in my life.": "Family is important in my life.",  # left in English
        "unimportant": "tidak penting", "important": "penting",
        "I am not proud of my nationality.": "Saya tidak bangga dengan kebangsaan saya.",
        "I am very proud of my nationality.": "Saya sangat bangga dengan kebangsaan saya.",
        "not": "tidak", "very": "sangat",
    }
    path = write_memory(tmp_path / "ms.tsv", pairs)
    with pytest.raises(PipelineError, match="not_untranslated"):
        translate(TEMPLATES, read_memory(path, "ms"), "ms", path)


def test_todo_lists_only_missing():
    memory = pl.DataFrame({"source": list(DE)[:4]})
    assert todo(TEMPLATES, memory) == list(DE)[4:]


def test_contrastive_keeps_whole_words_unless_language_attaches():
    # German: "wichtige" must stay whole, never "wichtig" + "[MASK]e".
    a = contrastive("Das ist eine wichtige Sache.", "Das ist eine unwichtige Sache.", "wichtig", "unwichtig")
    assert (a.probe, a.label_high, a.mask_attached) == ("Das ist eine [MASK] Sache.", "wichtige", False)
    # Turkish: the copula suffix stays outside the mask.
    t = contrastive("Aile hayatımda önemsizdir.", "Aile hayatımda önemlidir.", "önemsiz", "önemli", attach=True)
    assert (t.probe, t.label_high, t.label_low, t.mask_attached) == ("Aile hayatımda [MASK]dir.", "önemsiz", "önemli", True)


def test_located_when_one_label_contains_the_other():
    # Vietnamese "không quan trọng" vs "quan trọng": the word diff alone leaves one side empty.
    assert contrastive("Gia đình không quan trọng.", "Gia đình quan trọng.", "không quan trọng", "quan trọng") is None
    a = located("Gia đình không quan trọng.", "Gia đình quan trọng.", "không quan trọng", "quan trọng", False)
    assert (a.probe, a.label_high, a.label_low, a.method) == ("Gia đình [MASK].", "không quan trọng", "quan trọng", "exact")
    n = located("Wichtig ist die Familie.", "Unwichtig ist die Familie.", "wichtig", "unwichtig", True)
    assert n is not None and n.method == "normalized" and n.label_high == "Wichtig"


def _one(text_high, text_low, lh, ll, id_="wvs_Q1"):
    return pl.DataFrame({"id": [id_], "language": ["de"], "source_high": ["x"], "source_low": ["y"],
                         "text_high": [text_high], "text_low": [text_low], "label_high_alone": [lh],
                         "label_low_alone": [ll], "translation_source": ["curated"]})


def test_override_wins_and_must_point_at_real_text(tmp_path):
    df = _one("Die Familie ist mir gar nicht wichtig, sagt er.", "Die Familie ist mir sehr wichtig, sagte sie.", "unwichtig", "wichtig")
    methods = ["override", "contrastive", "exact", "normalized"]
    ov = tmp_path / "de.yaml"
    with pytest.raises(PipelineError) as err:
        align_rows(df, {}, methods, "de", ov)
    assert "wvs_Q1" in str(err.value) and str(ov) in str(err.value)
    good = align_rows(df, {"wvs_Q1": {"label_high": "gar nicht", "label_low": "sehr"}}, methods, "de", ov)
    assert good.row(0, named=True)["align_method"] == "override"
    assert good.row(0, named=True)["probe"] == "Die Familie ist mir [MASK] wichtig, sagt er."
    with pytest.raises(PipelineError, match="override text not found"):
        align_rows(df, {"wvs_Q1": {"label_high": "kaum", "label_low": "sehr"}}, methods, "de", ov)
    with pytest.raises(PipelineError, match="ids no probe has: wvs_Q999"):
        align_rows(df, {"wvs_Q999": {"label_high": "a", "label_low": "b"}}, methods, "de", ov)


def test_words_keep_combining_marks_and_zero_width_joiners():
    # Bengali vowel signs/virama and the Persian ZWNJ are inside words; a diff must not cut there.
    bn = contrastive("আমি অখুশি।", "আমি খুশি।", "অখুশি", "খুশি")
    assert (bn.probe, bn.label_high, bn.label_low) == ("আমি [MASK]।", "অখুশি", "খুশি")
    fa = contrastive("من هرگز نمی\u200cگیرم.", "من اغلب می\u200cگیرم.", "هرگز", "اغلب")
    assert (fa.probe, fa.label_high, fa.label_low) == ("من [MASK].", "هرگز نمی\u200cگیرم", "اغلب می\u200cگیرم")


def test_located_label_next_to_inserted_negation():
    # Bengali "আমি একমত নই যে ..." (disagree) vs "আমি একমত যে ..." (agree): the low fill's differing
    # region is empty and sits after the space that follows its label.
    a = located("আমি একমত নই যে কাজ কর্তব্য।", "আমি একমত যে কাজ কর্তব্য।", "একমত নই", "একমত", False)
    assert (a.probe, a.label_high, a.label_low) == ("আমি [MASK] যে কাজ কর্তব্য।", "একমত নই", "একমত")
    b = located("আমি একমত যে কাজ কর্তব্য।", "আমি একমত নই যে কাজ কর্তব্য।", "একমত", "একমত নই", False)
    assert (b.probe, b.label_high, b.label_low) == ("আমি [MASK] যে কাজ কর্তব্য।", "একমত", "একমত নই")
