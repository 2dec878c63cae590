"""`tunesmith serve`: the OpenAI-compatible API over Ollama servers and package folders, run with uvicorn."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--ollama",
    "ollama",
    multiple=True,
    metavar="URL",
    help="An Ollama server to route to (repeat for several; least busy first, failover between them).",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="PACKAGE_DIR",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A package folder (from `tunesmith package`) to serve in-process with llama.cpp (repeatable).",
)
@click.option(
    "--runs",
    "runs",
    default=None,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder of run folders (default runs): GET /v1/runs lists them, and the packages in them "
    "(<run>/package, <run>/base-package) are served too, each loaded on its first request.",
)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    metavar="KEY",
    help="Require `Authorization: Bearer KEY` on /v1/ routes (repeatable). Prefer the TUNESMITH_API_KEYS "
    "variable (comma-separated): flags show up in process lists.",
)
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network).")
@click.option("--port", type=int, default=None, help="Port to bind (default 8000).")
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML project file; its `serve:` section holds any of these settings.",
)
@click.option(
    "--read-timeout",
    type=float,
    default=None,
    help="Seconds to wait for an Ollama upstream's next byte, or for an embedded model to start "
    "answering, before answering 504 (default 300).",
)
@click.option(
    "--connect-timeout",
    type=float,
    default=None,
    help="Seconds to wait for a connection to an upstream before trying the next (default 5).",
)
@click.option(
    "--max-body-bytes",
    type=int,
    default=None,
    help="Largest request body accepted (default 10 MB); larger ones get 413.",
)
@click.option("--threads", type=int, default=None, help="CPU threads per embedded model (default: all cores).")
@click.option("--log-prompts", is_flag=True, default=None, help="Put prompt text in the request log (off by default).")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Log level of the server.",
)
def serve(
    ollama,
    models,
    runs,
    api_keys,
    host,
    port,
    config,
    read_timeout,
    connect_timeout,
    max_body_bytes,
    threads,
    log_prompts,
    log_level,
) -> None:
    """Serve an OpenAI-compatible API (chat, completions, embeddings, models) for your apps.

    Requests go to the package folders given with --model (in-process, no Ollama needed) or to the Ollama servers
    given with --ollama. Settings come from flags, then TUNESMITH_SERVE_* variables (e.g. TUNESMITH_SERVE_PORT),
    then the config file's `serve:` section. GET /health and GET /metrics are for probes; the OpenAPI schema is
    at /schema.

    Example: tunesmith serve --model runs/mybot/package --port 8000
    """
    import logging

    import uvicorn

    from tunesmith.console import err
    from tunesmith.server import create_app, load_settings

    settings = load_settings(
        config,
        ollama=ollama,
        models=[str(path) for path in models],
        runs=str(runs) if runs is not None else None,
        api_keys=api_keys,
        host=host,
        port=port,
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
        max_body_bytes=max_body_bytes,
        threads=threads,
        log_prompts=log_prompts,
    )
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(settings)
    keys = f", {len(settings.api_keys)} API key(s)" if settings.api_keys else ", no API key"
    err.print(f"serving on http://{settings.host}:{settings.port}/v1{keys}")
    # The standard event loop: under many concurrent streams uvloop left some requests waiting for seconds.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, access_log=False, loop="asyncio")
