"""Every eval metric on hand-made cases with known scores, and the judge's score parsing (pure engine, no Django)."""

from __future__ import annotations

import pytest

from federation.engine import abstats
from federation.evaluation.engine import judge, metrics
from federation.evaluation.engine.metrics import check_metric, score_case, summarize

RECORD = '{"retailer": "alpha", "cost": 12.5, "placement": "search", "clicks": 3}'


def test_one_scoring_code_path_for_ab_tests_and_evals():
    assert metrics.token_f1 is abstats.token_f1 and metrics.exact_match is abstats.exact_match


@pytest.mark.parametrize(
    ("prediction", "reference", "em", "f1"),
    [
        ("The cat sat.", "the cat sat", 1.0, 1.0),
        ("the cat", "the cat sat", 0.0, 0.8),  # P=1, R=2/3 → 0.8
        ("dog", "the cat sat", 0.0, 0.0),
        ("", "", 1.0, 1.0),
    ],
)
def test_exact_match_and_token_f1(prediction, reference, em, f1):
    scored = score_case([{"name": "exact_match"}, {"name": "token_f1"}], prediction, reference, {})
    assert scored.scores == {"exact_match": em, "token_f1": pytest.approx(f1)}


def test_contains_and_regex_use_suite_defaults_and_per_case_checks():
    specs = [
        check_metric({"name": "contains", "needles": ["alpha", "beta"]}),
        check_metric({"name": "regex"}),
    ]
    scored = score_case(specs, "Alpha only", None, {"pattern": r"^Alpha\b"})
    assert scored.scores == {"contains": 0.5, "regex": 1.0}
    scored = score_case(specs, "nothing", None, {"needles": ["noth"], "pattern": "x+"})
    assert scored.scores == {"contains": 1.0, "regex": 0.0}


def test_json_valid_accepts_a_fenced_object_and_refuses_prose():
    assert metrics.json_valid('```json\n{"a": 1}\n```') == 1.0
    assert metrics.json_valid("[1, 2]") == 1.0
    assert metrics.json_valid("Sure! {a: 1}") == 0.0


def test_field_accuracy_per_field_and_overall_with_the_field_table():
    specs = [{"name": "field_accuracy"}, {"name": "json_valid"}]
    good = score_case(specs, RECORD, RECORD, {})
    half = score_case(specs, '{"retailer": "alpha", "cost": 12.50, "placement": "display"}', RECORD, {})
    junk = score_case(specs, "not json", RECORD, {})
    assert good.scores == {"field_accuracy": 1.0, "json_valid": 1.0}
    assert half.fields == {"retailer": 1.0, "cost": 1.0, "placement": 0.0, "clicks": 0.0}
    assert half.scores["field_accuracy"] == 0.5
    assert junk.scores == {"field_accuracy": 0.0, "json_valid": 0.0}
    summary = summarize(specs, [good, half, junk])
    assert summary["score"] == pytest.approx(0.5) and summary["primary_metric"] == "field_accuracy"
    table = {row["field"]: row["accuracy"] for row in summary["per_field"]}
    assert table == pytest.approx({"clicks": 1 / 3, "cost": 2 / 3, "placement": 1 / 3, "retailer": 2 / 3})


def test_field_accuracy_does_not_count_true_as_one():
    assert metrics.field_scores('{"flag": true}', '{"flag": 1}') == {"flag": 0.0}


def test_numeric_within_absolute_and_relative_tolerance():
    absolute = check_metric({"name": "numeric", "tolerance": 0.5})
    relative = check_metric({"name": "numeric", "tolerance": 0.1, "relative": True})
    assert score_case([absolute], "about 10.4 dollars", "10", {}).scores["numeric"] == 1.0
    assert score_case([absolute], "10.6", "10", {}).scores["numeric"] == 0.0
    assert score_case([relative], "1,080", "1000", {}).scores["numeric"] == 1.0
    assert score_case([relative], "no number", "1000", {}).scores["numeric"] == 0.0


def test_a_metric_needing_a_reference_scores_none_without_one_and_is_left_out_of_the_mean():
    specs = [{"name": "exact_match"}]
    summary = summarize(specs, [score_case(specs, "a", None, {}), score_case(specs, "a", "a", {})])
    assert summary["metrics"]["exact_match"] == 1.0 and summary["scored_cases"] == 1


def test_bad_metric_specs_are_refused():
    for spec in (
        {"name": "bleu"},
        {"name": "regex", "pattern": "("},
        {"name": "judge"},
        {"name": "numeric", "tolerance": -1},
    ):
        with pytest.raises(ValueError):
            check_metric(spec)


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("Score: 10", 1.0),
        ("score = 1", 0.0),
        ("I'd say Score: 7/10.", 2 / 3),
        ("4", 1 / 3),
        ("Score: 3/5", 0.5),
    ],
)
def test_judge_scores_are_parsed_onto_zero_to_one(answer, score):
    assert judge.parse_score(answer) == pytest.approx(score)


@pytest.mark.parametrize("answer", ["great answer!", "Score: 11", "", "Score: 0"])
def test_judge_junk_is_a_per_case_failure(answer):
    with pytest.raises(ValueError):
        judge.parse_score(answer)
    results = judge.run_judge(lambda prompts: [answer] * len(prompts), "be strict", [("q", "a", None)])
    assert results[0]["score"] is None and "score" in results[0]["error"]


def test_judge_prompt_carries_rubric_and_reference():
    text = judge.judge_prompt("Correct RMIS fields", "Q?", "A.", "REF")
    assert "Correct RMIS fields" in text and "REF" in text and "Score: N" in text


def test_an_unreachable_openai_judge_is_one_clear_error():
    ask = judge.openai_judge("http://127.0.0.1:9/v1", "judge-model", timeout=2)
    with pytest.raises(judge.JudgeUnavailable, match="unreachable"):
        ask(["hello"])
