"""The processes of a multi-process training run (`train.gpus: N`): the launcher, and the workers it starts.

`python -m tunesmith.trainer.worker launch N LAUNCH_FILE` runs PyTorch's own launcher (`torch.distributed.run`) for N
workers, each `python -m tunesmith.trainer.worker work LAUNCH_FILE`, which trains its rank with the config and resume
point that trainer/distributed.py wrote to LAUNCH_FILE. A module of its own so that running it never imports it
twice (tunesmith.trainer imports distributed.py). Rank 0 reports to the process that started the run, over the relay
named in LAUNCH_FILE (trainer/relay.py), which shows it on the `Progress` and display it was given.

Each of these processes first ties itself to its parent's life (Linux's PR_SET_PDEATHSIG, set in the process itself
rather than in a `preexec_fn`, which is not safe in a parent that already runs threads), because the launcher starts
every worker in a session of its own: kill tunesmith and the whole tree goes with it, instead of training on and
racing the re-run that resumes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError
from tunesmith.files import write_text_atomic
from tunesmith.trainer.distributed import ERROR_FILE, REPORTED


def _tie_to_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; elsewhere nothing to do)."""
    parent = os.getppid()
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above took effect
        sys.exit(1)


def _launch(processes: str, launch: str) -> None:
    _tie_to_parent()
    import logging

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    # The launcher's own log lines (and its traceback of a failed child) would bury the worker's one error paragraph.
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        torchrun(["--standalone", f"--nproc-per-node={processes}", "-m", "tunesmith.trainer.worker", "work", launch])
    except ChildFailedError as failed:
        if not any(failure.exitcode == REPORTED for failure in failed.failures.values()):
            for rank, failure in sorted(failed.failures.items()):
                how = f"by {failure.signal_name()}" if failure.exitcode < 0 else f"with exit status {failure.exitcode}"
                print(f"training process {rank} stopped {how}", file=sys.stderr)
        sys.exit(1)


def _work(launch: Path) -> None:
    _tie_to_parent()
    from tunesmith.progress import SILENT, quiet_libraries

    quiet_libraries()  # as the command that started this run does, before the training libraries are imported
    from tunesmith.trainer.distributed import FitPlan
    from tunesmith.trainer.relay import RelayedProgress, relayed_display
    from tunesmith.trainer.train import fit_and_save

    spec: dict[str, Any] = json.loads(launch.read_text(encoding="utf-8"))
    rank = int(os.environ["RANK"])  # set by torch.distributed.run for each worker it starts
    with contextlib.ExitStack() as stack:
        progress, display = SILENT, None
        if rank == 0:
            relay = stack.enter_context(socket.create_connection(tuple(spec["relay"])))
            progress = RelayedProgress(stack.enter_context(relay.makefile("w", encoding="utf-8")))
            display = relayed_display(progress) if spec["display"] else None
        try:
            fit_and_save(FitPlan.from_json(spec["plan"]), rank=rank, display=display, progress=progress)
        except TunesmithError as error:
            write_text_atomic(
                launch.parent / ERROR_FILE,
                json.dumps(
                    {"type": type(error).__name__, "message": error.message, "where": error.where, "hint": error.hint}
                ),
            )
            sys.exit(REPORTED)


if __name__ == "__main__":
    if sys.argv[1] == "launch":
        _launch(sys.argv[2], sys.argv[3])
    else:
        _work(Path(sys.argv[2]))
