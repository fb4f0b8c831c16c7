"""The templates stage: real templates are complete and point the right way; bad templates fail clearly."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pipeline.common import PipelineError
from pipeline.templates import TEMPLATE_DIR, build_templates

REAL = [TEMPLATE_DIR / "hofstede.yaml", TEMPLATE_DIR / "wvs.yaml"]


@pytest.fixture(scope="module")
def real():
    return build_templates(REAL)


def test_real_templates_counts(real):
    probes, excluded = real
    assert probes.filter(probes["survey"] == "hofstede").height == 24
    assert probes.filter(probes["survey"] == "wvs").height >= 238
    # Every WVS item Q1-Q259 is either probed or excluded, never both.
    probed = set(probes.filter(probes["survey"] == "wvs")["question"])
    assert probed.isdisjoint(set(excluded["question"]))
    assert probed | set(excluded["question"]) == {f"Q{i}" for i in range(1, 260)}
    assert (excluded["reason"].str.len_chars() > 10).all()


def _row(probes, id_):
    return probes.filter(probes["id"] == id_).row(0, named=True)


@pytest.mark.parametrize(
    "id_, high, low",
    [
        ("hofstede_01", "unimportant", "important"),  # code 5 = of very little or no importance
        ("hofstede_15", "never", "always"),  # 1 always .. 5 never
        ("hofstede_18", "poor", "good"),  # 1 very good .. 5 very poor
        ("hofstede_20", "always", "never"),  # reversed scale: 1 never .. 5 always
        ("hofstede_22", "disagree", "agree"),  # 1 strongly agree .. 5 strongly disagree
        ("wvs_Q1", "unimportant", "important"),  # 1 very important .. 4 not at all important
        ("wvs_Q46", "unhappy", "happy"),
        ("wvs_Q164", "important", "unimportant"),  # 1 not at all important .. 10 very important
        ("wvs_Q182", "justifiable", "unjustifiable"),  # 1 never .. 10 always justifiable
        ("wvs_Q240", "right", "left"),  # 1 left .. 10 right
        ("wvs_Q109a", "agree", "disagree"),  # a states the code-10 end: competition is harmful
        ("wvs_Q109b", "disagree", "agree"),  # b states the code-1 end: competition is good
    ],
)
def test_direction_sample(real, id_, high, low):
    row = _row(real[0], id_)
    assert (row["label_high"], row["label_low"]) == (high, low)


def test_hofstede_dimension_map(real):
    probes = real[0].filter(real[0]["survey"] == "hofstede")
    dims = dict(zip(probes["question"], probes["category"]))
    expected = {"pdi": "02 07 20 23", "idv": "01 04 06 09", "mas": "03 05 08 10",
                "uai": "15 18 21 24", "lto": "13 14 19 22", "ivr": "11 12 16 17"}
    for dim, items in expected.items():
        assert all(dims[q] == dim for q in items.split())


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "wvs.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


GOOD_ITEM = """
  - id: wvs_Q1
    question: Q1
    category: social_values
    scale_min: 1
    scale_max: 4
    probe: "Family is [MASK] in my life."
    label_high: unimportant
    label_low: important
"""


@pytest.mark.parametrize(
    "item, expect",
    [
        ('probe: "Family is [MASK] in my life."', None),
        ('probe: "Family is important in my life."', "one_mask"),
        ('probe: "Family [MASK] is [MASK] in my life."', "one_mask"),
        ("label_high: ''", "label_high_clean"),
        ("label_high: important", "labels_distinct"),
        ("label_high: ' unimportant'", "label_high_clean"),
        ("scale_max: 1", "scale_order"),
    ],
)
def test_bad_items_name_the_item(tmp_path, item, expect):
    key = item.split(":")[0]
    body = "survey: wvs\nitems:\n" + "\n".join(
        ("    " + item) if line.strip().startswith(key + ":") else line for line in GOOD_ITEM.splitlines()
    ) + "\n  - id: wvs_Q2\n    question: Q2\n    category: social_values\n    scale_min: 1\n    scale_max: 4\n" \
        '    probe: "Friends are [MASK] in my life."\n    label_high: unimportant\n    label_low: important\n'
    path = _write(tmp_path, body)
    if expect is None:
        probes, _ = build_templates([path])
        assert probes.height == 2
        return
    with pytest.raises(PipelineError) as err:
        build_templates([path])
    msg = str(err.value)
    assert "id=wvs_Q1" in msg and expect in msg and str(path) in msg
    assert "wvs_Q2" not in msg  # only the failing row is named


def test_duplicate_ids_reported(tmp_path):
    path = _write(tmp_path, "survey: wvs\nitems:\n" + GOOD_ITEM + GOOD_ITEM)
    with pytest.raises(PipelineError, match="give every item its own id"):
        build_templates([path])


def test_malformed_yaml_names_line(tmp_path):
    path = _write(tmp_path, "survey: wvs\nitems:\n  - id: [unclosed\n")
    with pytest.raises(PipelineError, match=r"malformed YAML at line \d+"):
        build_templates([path])


def test_missing_keys_named(tmp_path):
    path = _write(tmp_path, "survey: wvs\nitems:\n  - id: wvs_Q9\n    question: Q9\n")
    with pytest.raises(PipelineError, match=r"id=wvs_Q9.*missing category"):
        build_templates([path])
