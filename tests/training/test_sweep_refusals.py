"""Every bad sweep request is refused up front with its reason: nothing saved, no study, no trial."""

import pytest

from rmnconsole.core.errors import ServiceError
from tests.datasets_app.dataset_helpers import poor_rows
from training.models import TrainingJob
from training.sweeps import services
from training.sweeps.engine.space import SpaceError, parse_space
from training.sweeps.models import Sweep

pytestmark = pytest.mark.django_db

LR = {"type": "log_float", "low": 1e-4, "high": 1e-2}


@pytest.fixture
def spec(write_dataset, rows, tiny_llama):
    return {
        "adapter_type": "retailer",
        "adapter_name": "amazon_sweep",
        "base_model": "tiny-llama",
        "dataset_path": write_dataset("sft/sweep.jsonl", rows.messages(30)),
        "fixed": {"max_steps": 4, "eval_steps": 2},
        "search_space": {"learning_rate": LR, "lora_r": {"type": "choice", "choices": [4, 8]}},
        "max_trials": 4,
    }


BAD = [
    (
        {"search_space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.01}}},
        "is empty (low equals high)",
    ),
    (
        {"search_space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.001}}},
        "the range is inverted",
    ),
    (
        {"search_space": {"lora_dropout": {"type": "log_float", "low": 0.0, "high": 0.2}}},
        "a log range must stay above 0",
    ),
    ({"search_space": {"lora_r": {"type": "choice", "choices": []}}}, "choices must be a non-empty list"),
    ({"search_space": {}}, "The search space is empty"),
    (
        {"search_space": {"quantization": {"type": "choice", "choices": ["4bit"]}}},
        "quantization cannot be searched",
    ),
    (
        {"search_space": {"lora_r": {"type": "int", "low": 0, "high": 8}}},
        "below the smallest allowed value 1",
    ),
    ({"max_trials": 0}, "max_trials is 0: the budget must allow at least 1"),
    ({"max_parallel": 0}, "max_parallel is 0: the budget must allow at least 1"),
    ({"wall_clock_minutes": 0}, "wall_clock_minutes must be above 0"),
    ({"sampler": "grid"}, "the grid sampler needs finite values"),
    ({"pruner": "threshold"}, "The threshold pruner needs pruner_threshold"),
    ({"second_objective": "adapter_size", "pruner": "median"}, "Optuna prunes single-objective studies only"),
    ({"fixed": {"validation_split": 0.0}}, "needs a validation split above 0"),
    # Objectives evaluation provides (registered from federation's ready()): measured after training.
    ({"objective": "eval_suite", "pruner": "median"}, "pruning compares eval loss during training"),
    ({"objective": "eval_suite", "objective_suite": "no-such-suite"}, "Unknown eval suite 'no-such-suite'"),
    ({"objective_suite": "any"}, "objective_suite applies only to an objective measured on an eval suite"),
    ({"objective": "latency"}, "objective must be one of eval_loss, eval_suite"),
    ({"fixed": {"lora_r": 8}}, "lora_r is both fixed and searched"),
    ({"adapter_name": "no spaces"}, "adapter_name must be a slug"),
    ({"base_model": "nope"}, "Unknown base model 'nope'"),
    ({"colour": "blue"}, "Unknown sweep field(s): colour"),
    (
        {
            "search_space": {
                "target_modules": {"type": "choice", "choices": [["q_proj"], ["nonexistent_proj"]]}
            }
        },
        "has no module named nonexistent_proj",
    ),
]


@pytest.mark.parametrize(("change", "reason"), BAD, ids=[r for _c, r in BAD])
def test_a_bad_request_is_refused_with_its_reason(spec, change, reason):
    with pytest.raises(ServiceError) as caught:
        services.start_sweep({**spec, **change})
    assert reason in caught.value.message
    assert not Sweep.objects.exists() and not TrainingJob.objects.exists()


def test_a_dataset_below_the_quality_gate_is_refused(spec, write_dataset):
    path = write_dataset("sft/dups.jsonl", poor_rows(30))
    with pytest.raises(ServiceError, match="below the quality gate of 85"):
        services.start_sweep({**spec, "dataset_path": path})
    assert not Sweep.objects.exists()


def test_a_space_whose_every_point_fails_the_memory_estimate_of_every_online_worker_is_refused(spec):
    # One GPU per trial and no GPU worker online: no point of the space can run anywhere.
    with pytest.raises(ServiceError) as caught:
        services.start_sweep({**spec, "fixed": {**spec["fixed"], "num_gpus": 1}})
    message = caught.value.message
    assert message.startswith(
        "Every point of the search space fails the memory estimate for every online worker"
    )
    assert "no GPU worker online" in message and caught.value.field == "search_space"
    assert not Sweep.objects.exists()


def test_the_space_parses_choices_ranges_and_module_sets():
    space = parse_space(
        {
            "learning_rate": {"type": "log_uniform", "low": 1e-5, "high": 1e-3},
            "max_steps": {"type": "int", "low": 4, "high": 8, "step": 2},
            "target_modules": {"type": "choice", "choices": [["q_proj", "v_proj"], ["q_proj"]]},
        }
    )
    dists = space.distributions()
    assert dists["learning_rate"].log and dists["max_steps"].step == 2
    assert dists["target_modules"].choices == ("q_proj,v_proj", "q_proj")
    assert space.to_dict()["target_modules"]["choices"] == [["q_proj", "v_proj"], ["q_proj"]]
    with pytest.raises(SpaceError, match="grid sampler needs finite values"):
        space.grid()
    assert {p["max_steps"] for p in space.corner_points()} == {4, 8}
