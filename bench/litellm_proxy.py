"""LiteLLM's proxy as the anchor of bench/proxy.py: installed into its own virtual environment on first use, configured
for a fair race against `tunesmith serve` over the same fake Ollama.

What "fair" means here, each point a setting below:
- the `ollama_chat/` provider, pointing at the same fake upstream, for the same streamed chat;
- one worker process, as `tunesmith serve` runs one (and as LiteLLM's docs advise: one worker per pod);
- no authentication on either side (tunesmith runs without --api-key; LiteLLM without a master key);
- its logging down to errors, its telemetry vetoed, no database, no spend or error logs;
- zero prices given for the model, which spares it part of the search of its cost map for an unknown Ollama model
  on every request (measured with py-spy: about 40% of its CPU time without them, about 17% with);
- httptools installed beside it, the HTTP parser tunesmith's uvicorn uses (LiteLLM's uvicorn picks it up when present).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

INSTALL = ["litellm[proxy]", "httptools"]


def ensure_litellm(venv: Path) -> Path:
    """The `litellm` command of `venv`, creating the environment and installing LiteLLM's proxy there if needed."""
    installed = venv / ".installed"
    if installed.exists():
        return venv / "bin" / "litellm"
    print(f"installing LiteLLM's proxy into {venv} (once; remove the folder to take a newer release)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *INSTALL],
        check=False,
        capture_output=True,
        text=True,
    )
    if pip.returncode != 0:
        raise RuntimeError(f"pip could not install {' '.join(INSTALL)} into {venv}:\n{pip.stderr[-3000:]}")
    installed.touch()
    return venv / "bin" / "litellm"


def litellm_versions(venv: Path) -> dict[str, str]:
    """Versions of LiteLLM and of the server stack under it, read inside its own environment."""
    script = (
        "import json, importlib.metadata as m; print(json.dumps({n: m.version(n) for n in "
        "('litellm', 'fastapi', 'uvicorn', 'uvloop', 'httptools', 'aiohttp', 'httpx')}))"
    )
    output = subprocess.run([str(venv / "bin" / "python"), "-c", script], check=True, capture_output=True, text=True)
    return json.loads(output.stdout)


def write_config(path: Path, model: str, upstream: str) -> Path:
    """A proxy config routing `model` to the Ollama at `upstream` through the ollama_chat provider."""
    config = {
        "model_list": [
            {
                "model_name": model,
                "litellm_params": {"model": f"ollama_chat/{model}", "api_base": upstream},
                "model_info": {"mode": "chat", "input_cost_per_token": 0.0, "output_cost_per_token": 0.0},
            }
        ],
        "litellm_settings": {"set_verbose": False, "json_logs": False, "turn_off_message_logging": True},
        "general_settings": {"disable_spend_logs": True, "disable_error_logs": True},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def start_litellm(command: Path, config: Path, port: int) -> subprocess.Popen:
    """Start LiteLLM's proxy (one uvicorn worker) on 127.0.0.1:`port`; its own output goes to a log beside the
    config."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY_DISABLED": "true",
        # The packaged cost map instead of a download at start-up.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
    }
    with open(config.with_suffix(".log"), "wb") as log:
        return subprocess.Popen(
            [str(command), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
            env=env,
            cwd=config.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
