"""Dataset rows are checked against the training type before any model is loaded."""

import json

import pytest

from training.engine.data import DatasetRowError, load_training_data, read_rows


def _write(tmp_path, data, raw_lines=()):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in data) + "".join(raw_lines))
    return path


def test_formats_are_detected(tmp_path, rows):
    assert read_rows(_write(tmp_path, rows.messages(3)), "sft")[0] == "messages"
    assert read_rows(_write(tmp_path, rows.prompt_completion(3)), "qlora")[0] == "prompt_completion"
    assert read_rows(_write(tmp_path, rows.preference(3)), "dpo")[0] == "preference"


def test_preference_rows_do_not_fit_sft(tmp_path, rows):
    with pytest.raises(DatasetRowError) as info:
        read_rows(_write(tmp_path, rows.preference(3)), "sft")
    assert "line 1: preference does not fit SFT" in str(info.value)


def test_broken_rows_are_named_by_line(tmp_path, rows):
    data = [*rows.messages(2), {"messages": [{"role": "user", "content": "hi"}]}]
    with pytest.raises(DatasetRowError) as info:
        read_rows(_write(tmp_path, data, ["{not json\n"]), "sft")
    assert info.value.bad_rows == ["line 3: no assistant message to learn from", "line 4: not valid JSON"]


def test_split_is_seeded_and_keeps_a_validation_row(tmp_path, rows):
    path = _write(tmp_path, rows.prompt_completion(20))
    first = load_training_data(path, "sft", 0.1, seed=3)
    again = load_training_data(path, "sft", 0.1, seed=3)
    assert len(first.eval_rows) == 2 and len(first.train_rows) == 18
    assert first.eval_rows == again.eval_rows
    assert load_training_data(path, "sft", 0.0, seed=3).eval_rows == []
