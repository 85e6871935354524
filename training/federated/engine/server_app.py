"""Flower ServerApp: runs on the SuperLink's host, drives the rounds with a Flower strategy, writes the report.

FedAvg weighted by example counts (FedProx optional); client-side DP = Flower's fixed-clipping wrapper (silos clip,
the server adds Gaussian noise) with Flower's RDP accountant reporting ε. The grid is wrapped only to *record*
what each silo returned (or why it failed / dropped) and to enforce the minimum number of silos per round.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg, FedAvgM, FedProx

from training.federated.engine import report as rep
from training.federated.engine.tensors import ADAPTER_FILE, load_arrays, save_arrays

app = ServerApp()


class TooFewSilos(RuntimeError):
    pass


class RecordingGrid:
    """Delegates to Flower's Grid; notes each round's replies per silo in the report (never any silo data)."""

    def __init__(
        self,
        grid: Grid,
        writer: rep.ReportWriter,
        nodes: dict[int, str],
        min_silos: int,
        record: bool,
        all_must_answer: bool = False,
    ):
        self._grid = grid
        self.all_must_answer = all_must_answer
        self.writer = writer
        self.nodes = nodes
        self.min_silos = min_silos
        self.record = record
        self.round = 0

    def __getattr__(self, name):
        return getattr(self._grid, name)

    def get_node_ids(self):
        """Only the job's silos: other SuperNodes connected to the same SuperLink are never sampled."""
        return [n for n in self._grid.get_node_ids() if n in self.nodes]

    def _name(self, node_id: int, reply: Message | None = None) -> str:
        if reply is not None and not reply.has_error() and "silo" in reply.content.config_records:
            name = str(reply.content.config_records["silo"].get("name", ""))
            if name:
                return name
        return self.nodes.get(node_id, f"node {node_id}")

    def send_and_receive(self, messages, *, timeout=None):
        messages = list(messages)
        if not messages:
            return []
        kind = messages[0].metadata.message_type
        if kind == MessageType.TRAIN:
            self.round += 1
        sent = {m.metadata.dst_node_id for m in messages}
        replies = list(self._grid.send_and_receive(messages, timeout=timeout))
        # An error the SuperLink itself answers for a vanished node (Node Unavailable) does not come from that
        # node: attribute it through reply_to_message_id, else to a sent-but-unanswered node.
        by_id = {m.metadata.message_id: m.metadata.dst_node_id for m in messages if m.metadata.message_id}
        unanswered = sorted(sent - {r.metadata.src_node_id for r in replies})
        ok, failed = [], []
        for reply in replies:
            node = by_id.get(reply.metadata.reply_to_message_id, reply.metadata.src_node_id)
            if node not in sent and reply.has_error() and unanswered:
                node = unanswered.pop(0)
            if reply.has_error():
                failed.append({"silo": self._name(node), "node": node, "reason": reply.error.reason})
                continue
            metrics = next(iter(reply.content.metric_records.values()))
            entry = {"silo": self._name(node, reply), "node": node, **{k: metrics[k] for k in metrics}}
            ok.append(entry)
            if self.record and kind == MessageType.TRAIN:
                arrays = reply.content["arrays"]
                save_arrays(
                    {k: arrays[k].numpy() for k in arrays},
                    self.writer.folder
                    / rep.SILO_RECORDS
                    / f"round-{self.round}"
                    / f"{entry['silo']}.safetensors",
                )
        answered = {f["node"] for f in failed} | {e["node"] for e in ok}
        dropped = [{"silo": self._name(n), "node": n, "reason": "no reply before the round timed out"}
                   for n in sorted(sent - answered)]  # fmt: skip
        phase = "train" if kind == MessageType.TRAIN else "evaluate"
        self.writer.event(phase, round=self.round, silos=ok, failed=failed + dropped)
        if kind == MessageType.TRAIN and self.all_must_answer and (failed or dropped):
            reasons = "; ".join(f"{f['silo']}: {f['reason']}" for f in failed + dropped)
            raise TooFewSilos(
                f"round {self.round}: differential-privacy accounting needs the update of every sampled silo, "
                f"{len(failed) + len(dropped)} did not send one ({reasons})"
            )
        if kind == MessageType.TRAIN and len(ok) < self.min_silos:
            reasons = "; ".join(f"{f['silo']}: {f['reason']}" for f in failed + dropped) or "none answered"
            raise TooFewSilos(
                f"round {self.round}: {len(ok)} silo(s) returned an adapter, fewer than the minimum "
                f"{self.min_silos} ({reasons})"
            )
        return replies


def _strategy(cfg, sampled: int):
    common = {
        "fraction_train": float(cfg["fraction-train"]),
        "fraction_evaluate": 1.0 if bool(cfg["evaluate"]) else 0.0,
        "min_train_nodes": int(cfg["min-silos"]),
        "min_evaluate_nodes": int(cfg["min-silos"]),
        "min_available_nodes": int(cfg["min-silos"]),
    }
    server_lr = float(cfg.get("server-learning-rate", 1.0))
    if str(cfg["strategy"]) == "fedprox":
        strategy = FedProx(proximal_mu=float(cfg["proximal-mu"]), **common)
    elif server_lr != 1.0:
        # FedAvg's example-weighted average, then a server step of that size along it (FedAvgM without momentum):
        # with n silos, n x the average update ~ the silos' updates applied in turn (Reddi et al., FedOpt).
        strategy = FedAvgM(server_learning_rate=server_lr, **common)
    else:
        strategy = FedAvg(**common)
    if str(cfg["dp"]) != "client-fixed":
        return strategy, None
    from flwr.supercore.privacy_accounting import NeighboringRelation, PrivacyConfig, SamplingMethod
    from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

    accountant = RdpAccountant(
        PrivacyConfig(
            target_delta=float(cfg["dp-delta"]),
            population_size=sampled,
            neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
            sampling_method=SamplingMethod.NO_AMPLIFICATION,
        )
    )
    dp = DifferentialPrivacyClientSideFixedClipping(
        strategy,
        noise_multiplier=float(cfg["dp-noise-multiplier"]),
        clipping_norm=float(cfg["dp-clipping-norm"]),
        num_sampled_clients=sampled,
        accountant=accountant,
    )
    return dp, dp


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    writer = rep.ReportWriter(Path(str(cfg["report-dir"])))
    nodes = {int(k): v for k, v in json.loads(str(cfg["silo-nodes"])).items()}
    min_silos = int(cfg["min-silos"])
    writer.event("started", run_config={k: cfg[k] for k in cfg if k not in ("training-config",)})
    try:
        initial = load_arrays(writer.folder / rep.INITIAL / ADAPTER_FILE)
        sampled = max(min_silos, int(len(nodes) * float(cfg["fraction-train"])))
        strategy, dp = _strategy(cfg, sampled)
        recording = RecordingGrid(
            grid, writer, nodes, min_silos, bool(cfg["record-silo-adapters"]), all_must_answer=dp is not None
        )
        train_config = ConfigRecord({"proximal-mu": float(cfg["proximal-mu"])})

        def after_round(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
            if server_round == 0:
                return None
            # The aggregate the next round starts from (after DP noise when DP is on).
            save_arrays(
                {k: arrays[k].numpy() for k in arrays},
                writer.folder / f"round-{server_round}.safetensors",
            )
            extra = {}
            if dp is not None and dp.privacy_spent() is not None:
                spent = dp.privacy_spent()
                extra = {"epsilon": spent.epsilon, "delta": spent.delta}
            writer.event("aggregated", round=server_round, **extra)
            return None

        result = strategy.start(
            grid=recording,
            initial_arrays=ArrayRecord({k: Array(np.asarray(v)) for k, v in initial.items()}),
            num_rounds=int(cfg["num-rounds"]),
            timeout=float(cfg["round-timeout"]),
            train_config=train_config,
            evaluate_fn=after_round,
        )
        final = result.arrays
        save_arrays({k: final[k].numpy() for k in final}, writer.folder / rep.FINAL)
        writer.event("completed", rounds=int(cfg["num-rounds"]))
    except Exception as exc:
        writer.event("failed", reason=f"{type(exc).__name__}: {exc}")
        raise
