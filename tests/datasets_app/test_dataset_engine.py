"""The validation engine on small hand-made files whose defects are known exactly."""

from __future__ import annotations

import json
import random

import pytest

from datasets_app.library.validation import DatasetFileError, band_for, pii, precheck_file, validate_file

WORDS = [
    "campaign",
    "budget",
    "sponsored",
    "product",
    "brand",
    "display",
    "offsite",
    "onsite",
    "retailer",
    "audience",
    "impressions",
    "clicks",
    "conversions",
    "roas",
    "placement",
    "keyword",
    "bid",
    "creative",
    "headline",
    "grocery",
    "beauty",
    "electronics",
    "halo",
    "attribution",
    "window",
    "incremental",
    "lift",
    "shopper",
    "basket",
    "category",
    "search",
    "homepage",
    "coupon",
    "seasonal",
    "promotion",
    "inventory",
    "margin",
    "forecast",
    "pacing",
]


def text(seed: int, n: int = 40) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + str(rng.randint(0, 9)) for _ in range(n))


def conv(seed: int, user: str | None = None, reply: str | None = None) -> dict:
    return {
        "messages": [
            {"role": "user", "content": user or text(seed)},
            {"role": "assistant", "content": reply or text(seed + 10_000)},
        ]
    }


def write(path, rows) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return str(path)


def report(path, **kwargs) -> dict:
    return validate_file(path, **kwargs).to_dict()


def counts(rep: dict) -> dict[str, int]:
    return {name: check["count"] for name, check in rep["checks"].items()}


def test_clean_conversations_score_excellent_and_every_check_passes(tmp_path):
    rep = report(write(tmp_path / "clean.jsonl", [conv(i) for i in range(40)]))
    assert rep["format"] == "messages"
    assert rep["dataset_type"] == "sft"
    assert rep["examples"] == 40 and rep["valid_examples"] == 40
    assert rep["quality_score"] == 100.0 and rep["band"] == "excellent"
    assert all(c["status"] == "pass" for c in rep["checks"].values()), rep["failing_checks"]
    assert sum(rep["weights"].values()) == pytest.approx(100.0, abs=0.05)
    assert len(rep["sha256"]) == 64


@pytest.mark.parametrize(
    ("rows", "fmt", "kind"),
    [
        ([{"prompt": text(i), "completion": text(i + 99)} for i in range(5)], "prompt_completion", "sft"),
        (
            [
                {
                    "prompt": [{"role": "user", "content": text(i)}],
                    "completion": [{"role": "assistant", "content": text(i + 9)}],
                }
                for i in range(5)
            ],
            "prompt_completion",
            "sft",
        ),
        (
            [{"prompt": text(i), "chosen": text(i + 1), "rejected": text(i + 2)} for i in range(5)],
            "preference",
            "dpo",
        ),
        (
            [
                {
                    "prompt": [{"role": "user", "content": text(i)}],
                    "chosen": [{"role": "assistant", "content": text(i + 1)}],
                    "rejected": [{"role": "assistant", "content": text(i + 2)}],
                }
                for i in range(5)
            ],
            "preference",
            "dpo",
        ),
        (
            [
                {
                    "chosen": [
                        {"role": "user", "content": text(i)},
                        {"role": "assistant", "content": text(i + 1)},
                    ],
                    "rejected": [
                        {"role": "user", "content": text(i)},
                        {"role": "assistant", "content": text(i + 2)},
                    ],
                }
                for i in range(5)
            ],
            "implicit_preference",
            "dpo",
        ),
        (
            [
                {"messages": [{"role": "system", "content": "be brief"}, *conv(i)["messages"]]}
                for i in range(5)
            ],
            "messages",
            "sft",
        ),
    ],
    ids=[
        "prompt-completion",
        "prompt-completion-conversational",
        "preference",
        "preference-conversational",
        "implicit",
        "messages-system",
    ],
)
def test_every_trl_format_is_detected_and_clean(tmp_path, rows, fmt, kind):
    rep = report(write(tmp_path / "f.jsonl", rows))
    assert (rep["format"], rep["dataset_type"]) == (fmt, kind)
    bad = {n: c for n, c in counts(rep).items() if c and n not in ("length_outliers", "balance")}
    assert bad == {}, bad


def test_three_duplicate_pairs_report_three_with_their_first_lines(tmp_path):
    rows = [conv(i) for i in range(20)]
    rows.append(conv(2))
    dup = conv(5)
    dup["messages"][0]["content"] = "  " + dup["messages"][0]["content"].upper().replace(
        " ", "   "
    )  # case/space only
    rows.append(dup)
    rows.append(conv(7))
    rep = report(write(tmp_path / "d.jsonl", rows))
    check = rep["checks"]["exact_duplicates"]
    assert check["count"] == 3
    assert check["examples"] == [21, 22, 23]
    assert [(p["line"], p["duplicate_of"]) for p in check["details"]["pairs"]] == [(21, 3), (22, 6), (23, 8)]
    assert rep["checks"]["near_duplicates"]["count"] == 0  # exact copies are not counted twice


def test_near_duplicate_differing_by_one_word_is_found_and_verified(tmp_path):
    rows = [conv(i) for i in range(30)]
    near = conv(4)
    words = near["messages"][1]["content"].split()
    words[17] = "zzzchanged"
    near["messages"][1]["content"] = " ".join(words)
    rows.append(near)
    rep = report(write(tmp_path / "n.jsonl", rows))
    check = rep["checks"]["near_duplicates"]
    assert check["count"] == 1 and check["examples"] == [31]
    pair = check["details"]["pairs"][0]
    assert pair["similar_to"] == 5 and 0.8 <= pair["jaccard"] < 1.0
    assert rep["checks"]["exact_duplicates"]["count"] == 0


def test_pii_kinds_are_found_and_a_luhn_failing_number_is_not(tmp_path):
    planted = [
        "mail me at jane.doe@example.com",
        "call (212) 555-0123 tomorrow",
        "card 4111 1111 1111 1111 on file",
        "ssn 123-45-6789",
        "server 10.20.30.40 is down",
        "key AKIAIOSFODNN7EXAMPLE leaked",
        "-----BEGIN RSA PRIVATE KEY----- MIIEpAIBAAKCAQEA",
    ]
    rows = [conv(i) for i in range(30)]
    for i, snippet in enumerate(planted):
        rows[i * 3]["messages"][0]["content"] += " " + snippet
    rows[25]["messages"][0]["content"] += " order ref 4111 1111 1111 1112"  # fails Luhn: not a card
    rows[26]["messages"][0]["content"] += " order 1234567890123456 and gtin 00012345678905 on 2024-03-15"
    rep = report(write(tmp_path / "p.jsonl", rows))
    check = rep["checks"]["pii"]
    assert check["count"] == 7
    assert check["examples"] == [1, 4, 7, 10, 13, 16, 19]
    assert check["details"]["by_kind"] == {
        "email": 1,
        "phone": 1,
        "credit_card": 1,
        "ssn": 1,
        "ip_address": 1,
        "secret": 2,
    }
    assert check["details"]["secret_lines"] == 2
    assert all(
        "4111 1111 1111 1111" not in f["value"] for f in check["details"]["findings"]
    )  # masked in the report
    assert rep["quality_score"] <= 84.0 and rep["band"] == "poor"  # secrets cap it at Poor
    assert any(c["applied"] and "keys" in c["reason"] for c in rep["caps"])


def test_personal_data_alone_caps_below_good(tmp_path):
    rows = [conv(i) for i in range(200)]
    rows[10]["messages"][1]["content"] += " reach me at bob@example.org"
    rep = report(write(tmp_path / "p.jsonl", rows))
    assert rep["checks"]["pii"]["count"] == 1
    assert rep["quality_score"] == 89.0 and rep["band"] == "fair"


@pytest.mark.parametrize(
    ("snippet", "kind"),
    [
        ("ghp_" + "a" * 36, "secret"),
        ("sk-" + "b" * 32, "secret"),
        ("api_key = 'abcd1234efgh5678ijkl'", "secret"),
        ("fe80::1ff:fe23:4567:890a", "ip_address"),
        ("+44 20 7946 0958", "phone"),
        ("3782 822463 10005", "credit_card"),
    ],
)
def test_more_pii_shapes(snippet, kind):
    assert [k for k, _pos, _v in pii.scan(f"see {snippet} now")] == [kind]


@pytest.mark.parametrize(
    "clean",
    [
        "budget 12000 USD from 2024-01-01 to 2024-03-31, CTR 0.45%",
        "version 1.2.3 ratio 3:2:1",
        "12:30:45",
        "1234567890",
    ],
)
def test_ordinary_numbers_are_not_pii(clean):
    assert pii.scan(clean) == []


def test_luhn():
    assert pii.luhn_valid("4111111111111111")
    assert not pii.luhn_valid("4111111111111112")


def test_structure_checks_count_each_defect_on_its_line(tmp_path):
    rows = [conv(i) for i in range(40)]
    rows[1] = '{"messages": [{"role": "user", "content": "truncated'  # invalid JSON (line 2)
    rows[3] = "[1, 2, 3]"  # JSON but not an object (line 4)
    rows[5] = {"conversation": conv(5)["messages"]}  # no required field (line 6)
    rows[7] = {"messages": "user: hi assistant: hello"}  # wrong type (line 8)
    rows[9]["messages"][1]["content"] = 42  # wrong type (line 10)
    rows[11]["messages"][0]["role"] = "assistant"  # roles: assistant first, twice (line 12)
    rows[13]["messages"][0]["role"] = "bot"  # roles: invalid (line 14)
    rows[15]["messages"] = rows[15]["messages"][:1]  # roles: no assistant reply (line 16)
    rows[17]["messages"][0]["content"] = "   \n"  # empty content (line 18)
    rows[19] = {"prompt": text(3), "completion": text(4)}  # another format (line 20)
    rep = report(write(tmp_path / "s.jsonl", rows))
    checks = rep["checks"]
    assert (checks["json_valid"]["count"], checks["json_valid"]["examples"]) == (2, [2, 4])
    assert checks["json_valid"]["details"]["reasons"][0]["line"] == 2
    assert (checks["required_fields"]["count"], checks["required_fields"]["examples"]) == (2, [6, 20])
    assert checks["required_fields"]["details"]["other_format_lines"] == 1
    assert (checks["field_types"]["count"], checks["field_types"]["examples"]) == (2, [8, 10])
    assert (checks["roles"]["count"], checks["roles"]["examples"]) == (3, [12, 14, 16])
    assert (checks["empty_content"]["count"], checks["empty_content"]["examples"]) == (1, [18])
    assert rep["examples"] == 38 and rep["lines"] == 40
    # 2 bad JSON + 3 structurally invalid of 40 lines = 12.5 % > 5 %: capped at Poor.
    assert rep["band"] == "poor" and rep["quality_score"] <= 84.0
    assert any("invalid" in c["reason"] for c in rep["caps"])


def test_dpo_identical_pairs_and_length_bias(tmp_path):
    rows = [{"prompt": text(i), "chosen": text(i + 1, 60), "rejected": text(i + 2, 20)} for i in range(30)]
    rows[4]["rejected"] = rows[4]["chosen"]
    rows[9]["rejected"] = rows[9]["chosen"] + "  "
    rep = report(write(tmp_path / "dpo.jsonl", rows))
    assert rep["format"] == "preference"
    ident = rep["checks"]["dpo_identical"]
    assert (ident["count"], ident["examples"]) == (2, [5, 10])
    bias = rep["checks"]["dpo_length_bias"]
    # Line 10's rejected is the chosen text plus two spaces: identical after stripping, but 2 characters longer.
    assert (
        bias["details"]["chosen_longer"],
        bias["details"]["chosen_shorter"],
        bias["details"]["equal_length"],
    ) == (28, 1, 1)
    assert bias["score"] < 0.2 and bias["status"] == "fail" and bias["count"] == 28
    assert any(c["applied"] and "chosen == rejected" in c["reason"] for c in rep["caps"])  # 2/30 > 5 %


def test_dpo_checks_only_apply_to_dpo(tmp_path):
    rep = report(write(tmp_path / "sft.jsonl", [conv(i) for i in range(5)]))
    assert "dpo_identical" not in rep["checks"] and "dpo_length_bias" not in rep["checks"]


def test_balance_scores_a_skewed_category_field(tmp_path):
    rows = [{**conv(i), "category": "grocery" if i < 45 else "beauty"} for i in range(50)]
    rep = report(write(tmp_path / "b.jsonl", rows))
    balance = rep["checks"]["balance"]
    assert balance["details"]["classes"] == 2
    assert balance["score"] < 0.6  # 90/10: normalised entropy 0.47
    assert rep["stats"]["labels"] == {"grocery": 45, "beauty": 5}
    even = report(
        write(tmp_path / "e.jsonl", [{**conv(i), "category": ["a", "b"][i % 2]} for i in range(50)])
    )
    assert even["checks"]["balance"]["score"] == 1.0


def test_length_outliers_and_histograms(tmp_path):
    rows = [conv(i) for i in range(40)]
    rows[22] = conv(22, reply=text(5, 3000))
    rep = report(write(tmp_path / "l.jsonl", rows))
    check = rep["checks"]["length_outliers"]
    assert (check["count"], check["examples"]) == (1, [23])
    assert rep["stats"]["turns_histogram"] == {"2": 40}
    assert sum(rep["stats"]["length_histogram"].values()) == 40


def test_over_max_seq_len_with_a_tokenizer(tmp_path, tiny_models):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_models["tiny-llama"]))
    rows = [conv(i, reply=text(i, 10)) for i in range(10)]
    rows[3] = conv(3, reply=text(3, 400))
    rep = report(write(tmp_path / "t.jsonl", rows), tokenizer=tokenizer, max_seq_len=300)
    check = rep["checks"]["max_seq_len"]
    assert (check["count"], check["examples"]) == (1, [4])
    assert rep["stats"]["tokens"]["max"] > 300
    assert "max_seq_len" not in report(tmp_path / "t.jsonl")["checks"]


def test_declared_type_that_does_not_match_the_lines(tmp_path):
    rep = report(write(tmp_path / "m.jsonl", [conv(i) for i in range(10)]), dataset_type="dpo")
    assert rep["format"] == "" and rep["dataset_type"] == "dpo"
    assert rep["checks"]["required_fields"]["count"] == 10
    assert rep["band"] == "poor"
    assert any("Declared as DPO" in n for n in rep["notes"])


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (
            b'{"prompt": "a", "completion": "b"}\n{"prompt": "\xff\xfe", "completion": "x"}\n',
            "Line 2 is not valid UTF-8",
        ),
        (b"name,prompt,completion\nx,a,b\ny,c,d\n", "line 1"),
        (b'[{"prompt": "a", "completion": "b"}]\n', "line 1"),
    ],
    ids=["empty", "blank-lines", "non-utf8", "csv", "json-array"],
)
def test_files_that_are_not_datasets_are_refused_with_the_line(tmp_path, content, needle):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(DatasetFileError) as exc:
        validate_file(path)
    assert needle in exc.value.message
    with pytest.raises(DatasetFileError) as pre:
        precheck_file(path)
    assert needle in pre.value.message


def test_precheck_finds_bad_utf8_deep_in_a_file(tmp_path):
    path = tmp_path / "deep.jsonl"
    rows = [json.dumps(conv(i)) for i in range(500)]
    path.write_bytes(("\n".join(rows) + "\n").encode() + b'{"prompt": "\xc3\x28"}\n')
    with pytest.raises(DatasetFileError, match="Line 501 is not valid UTF-8"):
        precheck_file(path)


def test_crlf_and_bom_are_tolerated(tmp_path):
    path = tmp_path / "win.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(json.dumps(conv(i)).encode() for i in range(5)) + b"\r\n")
    rep = report(path)
    assert rep["examples"] == 5 and rep["checks"]["json_valid"]["count"] == 0


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (100, "excellent"),
        (95, "excellent"),
        (94.9, "good"),
        (90, "good"),
        (89.9, "fair"),
        (85, "fair"),
        (84.9, "poor"),
        (0, "poor"),
    ],
)
def test_bands_match_the_user_guide(score, band):
    assert band_for(score) == band
