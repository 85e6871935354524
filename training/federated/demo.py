"""The one-machine federation `runconsole --federation-demo N` starts: a loopback SuperLink and N SuperNodes, one
per demo retailer, each with that retailer's data in its own folder outside the console's data root."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings

from training.federated.engine.demo_silos import DEMO_RETAILERS, write_silo_dataset
from training.federated.engine.loopback import Federation, start_federation
from training.federated.models import Silo


def demo_root() -> Path:
    return Path(settings.BASE_DIR) / "var" / "federation-demo"


def start_demo_federation(count: int, root: Path | None = None, port: int | None = None) -> Federation:
    """Start it, register the silos (rows named demo-<retailer>) and point this process's settings at it."""
    if not 1 <= count <= len(DEMO_RETAILERS):
        raise ValueError(
            f"the demo has {len(DEMO_RETAILERS)} retailers: choose 1 to {len(DEMO_RETAILERS)} silos"
        )
    root = root or demo_root()
    if root.resolve().is_relative_to(Path(settings.RMN_DATA_ROOT).resolve()):
        raise ValueError("the demo silos' folders must lie outside the console's data root")
    shutil.rmtree(root / "superlink", ignore_errors=True)  # a fresh SuperLink state: keys are new each start
    federation = start_federation(root, root / "console-home", port)
    try:
        for retailer in DEMO_RETAILERS[:count]:
            dataset = write_silo_dataset(root / "silo-data" / retailer, retailer, count=48)
            node_id = federation.add_silo(f"demo-{retailer}", dataset)
            public_key = (root / "silos" / f"demo-{retailer}" / "keys" / "node_key.pub").read_text().strip()
            Silo.objects.update_or_create(
                name=f"demo-{retailer}",
                defaults={
                    "retailer": retailer,
                    "supernode_host": "127.0.0.1",
                    "node_config": {"silo-name": f"demo-{retailer}", "dataset-path": str(dataset)},
                    "public_key": public_key,
                    "node_id": str(node_id),
                    "last_status": "registered",
                },
            )
        federation.wait_online()
    except Exception:
        federation.stop()
        raise
    values = {
        "RMN_FLOWER_SUPERLINK": federation.link.address,
        "RMN_FLOWER_ROOT_CERTIFICATES": federation.link.root_certificates,
        "RMN_FLOWER_INSECURE": "0",
    }
    os.environ.update(values)  # the workers runconsole starts inherit them
    settings.RMN_FLOWER_SUPERLINK = federation.link.address
    settings.RMN_FLOWER_ROOT_CERTIFICATES = federation.link.root_certificates
    settings.RMN_FLOWER_INSECURE = False
    return federation
