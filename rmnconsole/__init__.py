"""RMN LoRA Admin Console: the Django project (settings, auth, queues, console shell)."""

import os

# Set before any torch import (every process starts here: web, workers, serving, CLI). The console runs several torch
# processes on one host (training, inference and serving workers); with OpenMP's default busy-waiting their idle math
# threads spin against each other's work and a small model's training step got 4-15x slower on a 2-core host.
# Sleeping threads cost a busy host nothing; OMP_WAIT_POLICY=ACTIVE in the environment restores the default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
