"""torchrun, tied to the work horse that started it: `python -m training.engine.ddp_launch <torchrun args>`.

torchrun starts each rank in a session of its own, so no single process-group signal reaches them all. This
launcher asks for SIGTERM when its parent (the RQ work horse) dies — torchrun then stops every rank — and each
rank asks for SIGKILL when torchrun dies (ddp_entry), so a hard-stopped or killed horse never leaves ranks training.
"""

from __future__ import annotations

import signal
import sys

from training.engine.process import die_with_parent

if __name__ == "__main__":
    die_with_parent(signal.SIGTERM)
    from torch.distributed.run import main

    main(sys.argv[1:])
