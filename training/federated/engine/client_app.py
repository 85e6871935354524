"""Flower ClientApp: one per silo's SuperNode. Trains/evaluates with the console's engine on the silo's own data.

The node config (set when the SuperNode starts, on the silo's host) names the silo and its dataset path (and,
optionally, one per training type such as `dpo-dataset-path`); the console never sees those files. Replies carry only LoRA tensors, counts and losses (plus the silo's name).
"""

from __future__ import annotations

import json
from pathlib import Path

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import fixedclipping_mod

from training.engine.config import TrainingConfig
from training.federated.engine import silo


def _settings(context: Context) -> tuple[Path, str, TrainingConfig, str]:
    node, run = context.node_config, context.run_config
    model = str(node.get("base-model-path") or run["base-model-path"])  # a silo may keep the base elsewhere
    config = TrainingConfig(**json.loads(str(run["training-config"])))
    training_type = str(run["training-type"])
    # A silo may hold one dataset per training type: `dpo-dataset-path` for DPO, else its `dataset-path`.
    dataset = node.get(f"{training_type}-dataset-path") or node.get("dataset-path", "")
    return Path(model), str(dataset), config, training_type


def _numpy(record: ArrayRecord) -> dict:
    return {key: record[key].numpy() for key in record}


def _silo(context: Context) -> ConfigRecord:
    return ConfigRecord({"name": str(context.node_config.get("silo-name", ""))})


# fixedclipping_mod clips the update this silo sends when the ServerApp asks for it (client-side DP clipping);
# it is a no-op without the clipping key in the round's config.
def _clip_when_asked(msg: Message, context: Context, call_next):
    config = next(iter(msg.content.config_records.values()), {})
    if "clipping_norm" in config:
        return fixedclipping_mod(msg, context, call_next)
    return call_next(msg, context)


app = ClientApp(mods=[_clip_when_asked])


@app.train()
def train(msg: Message, context: Context) -> Message:
    model, dataset, config, training_type = _settings(context)
    round_config = msg.content["config"]
    local_steps = int(context.run_config["local-steps"])
    result = silo.train_round(
        model,
        dataset,
        config,
        training_type,
        _numpy(msg.content["arrays"]),
        local_steps,
        float(round_config.get("proximal-mu", 0.0)),
    )
    # FedAvg weighs by "num-examples". Under accounted DP every silo's clipped update weighs the same (Flower's
    # accountant assumes it), so the weight is 1 and the real count travels as "examples" for the report.
    weight = 1 if str(context.run_config["dp"]) != "off" else result.num_examples
    metrics = MetricRecord(
        {"train_loss": result.train_loss, "num-examples": weight, "examples": result.num_examples}
    )
    arrays = ArrayRecord({k: Array(result.arrays[k]) for k in msg.content["arrays"]})
    content = RecordDict({"arrays": arrays, "metrics": metrics, "silo": _silo(context)})
    return Message(content=content, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    model, dataset, config, training_type = _settings(context)
    loss, examples = silo.evaluate_round(model, dataset, config, training_type, _numpy(msg.content["arrays"]))
    metrics = MetricRecord({"eval_loss": loss, "num-examples": examples})
    return Message(content=RecordDict({"metrics": metrics, "silo": _silo(context)}), reply_to=msg)
