"""RQ entry point of a pipeline step (default queue): the chain engine does the work, the row is the truth."""

from __future__ import annotations

import os
import socket

from federation.pipelines import chain


def run_step(step_id: int) -> str:
    return chain.execute(step_id, f"{socket.gethostname()}:{os.getpid()}")
