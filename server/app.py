"""The app factory: `create_app(settings)` wires backends, routes, auth, limits, logs and metrics into Litestar.

Everything a handler needs arrives by dependency injection (`backends`, `metrics`); backends start
(load models, first health check) when the app starts and are closed when it stops.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from tunesmith import __version__
from tunesmith.errors import ConfigError
from tunesmith.server.auth import api_key_guard, loopback_guard, on_the_loop
from tunesmith.server.backends import Backend, Backends, LlamaCppBackend, OllamaBackend
from tunesmith.server.errors import EXCEPTION_HANDLERS
from tunesmith.server.job_runners import RunJobs
from tunesmith.server.jobs import PublishJobs
from tunesmith.server.observe import Metrics, observe_middleware
from tunesmith.server.routes import ROUTES
from tunesmith.server.routes.jobs import JOB_ROUTES
from tunesmith.server.routes.publish import publish_router
from tunesmith.server.routes.runs import runs_router
from tunesmith.server.routes.studio import studio_router
from tunesmith.server.settings import ServerSettings

__all__ = ["build_backends", "create_app"]


def build_backends(settings: ServerSettings) -> Backends:
    """The backends the settings ask for: embedded packages (the --model folders and the runs' packages) first, then
    the Ollama upstreams."""
    backends: list[Backend] = []
    runs = Path(settings.runs) if settings.runs else None
    if not (settings.ollama or settings.models or (runs is not None and runs.is_dir())):
        raise ConfigError(
            f"nothing to serve: no Ollama URL, no package folder and no runs folder ({settings.runs})",
            where="serve",
            hint="Pass --ollama http://localhost:11434, --model PACKAGE_DIR and/or --runs DIR (a folder of runs).",
        )
    # With a runs folder, the embedded backend serves its runs' packages as they come (a run started later too).
    if settings.models or runs is not None:
        backends.append(
            LlamaCppBackend(
                list(settings.models),
                runs=runs,
                threads=settings.threads,
                read_timeout=settings.read_timeout,
                max_loaded=settings.max_loaded,
            )
        )
    if settings.ollama:
        backends.append(
            OllamaBackend(
                list(settings.ollama),
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.read_timeout,
                health_interval=settings.health_interval,
            )
        )
    return Backends(backends)


def create_app(
    settings: ServerSettings,
    *,
    backends: Backends | None = None,
    publish_jobs: PublishJobs | None = None,
    run_jobs: RunJobs | None = None,
) -> Litestar:
    """The OpenAI-compatible app for `settings` (`backends`, `publish_jobs` and `run_jobs` replace the ones it would
    build; the jobs of both live in one registry, the publish jobs')."""
    backends = backends or build_backends(settings)
    publish_jobs = publish_jobs or PublishJobs(
        settings.models,
        ollama_host=settings.ollama[0] if settings.ollama else None,
        runs=settings.runs,
        registry=run_jobs.registry if run_jobs else None,
    )
    run_jobs = run_jobs or RunJobs(settings.runs or "runs", publish_jobs.registry, api_keys=settings.api_keys)
    metrics = Metrics()

    async def start(app: Litestar) -> None:
        await backends.start()

    async def stop(app: Litestar) -> None:
        # Jobs live in this process: their commands stop with it rather than run on unseen.
        await anyio.to_thread.run_sync(run_jobs.registry.cancel_unfinished)
        await backends.close()

    return Litestar(
        route_handlers=[
            *ROUTES,
            publish_router(publish_jobs),
            runs_router(settings),
            *JOB_ROUTES,  # after the runs Router: POST /v1/runs joins its route (see routes/jobs.py)
            studio_router(settings),
        ],
        dependencies={
            "backends": Provide(lambda: backends, use_cache=True, sync_to_thread=False),
            "metrics": Provide(lambda: metrics, use_cache=True, sync_to_thread=False),
            "jobs": Provide(lambda: run_jobs.registry, use_cache=True, sync_to_thread=False),
            "run_jobs": Provide(lambda: run_jobs, use_cache=True, sync_to_thread=False),
        },
        guards=[on_the_loop(api_key_guard(settings.api_keys) if settings.api_keys else loopback_guard())],
        middleware=[observe_middleware(metrics, log_prompts=settings.log_prompts)],
        exception_handlers=EXCEPTION_HANDLERS,
        on_startup=[start],
        on_shutdown=[stop],
        request_max_body_size=settings.max_body_bytes,
        # Logging is the host's to configure (`tunesmith serve` does); Litestar would replace the root handlers.
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="tunesmith",
            version=__version__,
            description="OpenAI-compatible API over Ollama and embedded packages.",
        ),
    )
