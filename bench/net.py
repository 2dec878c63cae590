"""What the benches that start servers share: a free loopback port, waiting until a server answers, percentiles."""

from __future__ import annotations

import socket
import statistics
import subprocess
import time
import urllib.request


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Return once `url` answers a GET; fail early when `process`, the server behind it, has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answered at {url}")


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1-99) of `values`, inclusive method; the value itself when there is one."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]
