"""GET /v1/runs, GET /v1/runs/{id}, GET /v1/runs/{id}/metrics?after=N and GET /v1/runs/{id}/loss.png: the runs of
the server's runs folder (`serve --runs DIR`), read from their files, as one Router.

The app registers `runs_router(settings)`; the API key guard covers these routes like every `/v1/` route. Reading is
done off the event loop: a run folder is a few small files, but the runs folder may be on a slow disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from litestar import Response, Router, get
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from tunesmith.server.backends import Backends
from tunesmith.server.backends.package_catalog import PackageCatalog
from tunesmith.server.routes.generation import ERROR_RESPONSES
from tunesmith.server.run_detail import metrics_page, run_detail
from tunesmith.server.run_folders import list_run_folders, run_folder, run_summary
from tunesmith.server.schemas import ErrorBody
from tunesmith.server.settings import ServerSettings

__all__ = ["Run", "RunDetail", "RunList", "runs_router"]

Status = Literal[
    "preparing", "training", "packaging", "publishing", "done", "failed", "interrupted", "prepared", "trained"
]


class Run(msgspec.Struct, kw_only=True):
    """A run folder: `step` is the last training step in metrics.jsonl, `max_steps` the planned total; `error` the
    message the command printed when the run failed; `models` the ids this server serves from its packages."""

    id: str
    object: Literal["run"] = "run"
    status: Status
    step: int | None
    max_steps: int | None
    train_loss: float | None
    eval_loss: float | None
    verdict: str | None
    base: str | None
    error: str | None
    updated_at: int
    models: list[str]


class RunList(msgspec.Struct):
    object: Literal["list"]
    data: list[Run]


class PackageFile(msgspec.Struct):
    name: str
    bytes: int


class Package(msgspec.Struct, kw_only=True):
    """A package folder of the run: its Modelfile text, model card (README.md), quality.json and files."""

    folder: str
    model: str | None
    modelfile: str
    card: str | None
    quality: dict[str, Any] | None
    files: list[PackageFile]


class RunDetail(Run, kw_only=True):
    data_report: dict[str, Any] | None
    train_report: dict[str, Any] | None
    package: Package | None
    base_package: Package | None


class MetricsPage(msgspec.Struct):
    """metrics.jsonl rows as written; ask again with after=next."""

    object: Literal["list"]
    data: list[dict[str, Any]]
    next: int


# What a route about one run may answer besides 200.
_ONE_RUN = {
    400: ResponseSpec(ErrorBody, description="The id is not a run name (a path, `..`, a link out)."),
    401: ERROR_RESPONSES[401],
    404: ResponseSpec(ErrorBody, description="No such run (or no loss curve yet)."),
}


def _models_of(backends: Backends, run: str) -> dict[str, str]:
    """The served model id of each package folder of `run` (package, base-package), from the embedded backend."""
    for backend in backends.all:
        catalog = getattr(backend, "catalog", None)
        if isinstance(catalog, PackageCatalog):
            return catalog.models_of_run(run)
    return {}


@get("/", sync_to_thread=True, summary="List the runs", responses={401: ERROR_RESPONSES[401]})
def list_runs(runs_folder: Path | None, backends: Backends) -> RunList:
    """Every run of the runs folder, most recently updated first (an empty list when the folder does not exist)."""
    runs = [
        run_summary(folder, list(_models_of(backends, folder.name).values()))
        for folder in list_run_folders(runs_folder)
    ]
    runs.sort(key=lambda run: (-run["updated_at"], run["id"]))
    return RunList(object="list", data=msgspec.convert(runs, list[Run]))


@get(
    "/{run_id:str}",
    sync_to_thread=True,
    summary="One run: reports and packages",
    responses=_ONE_RUN,
)
def get_run(run_id: str, runs_folder: Path | None, backends: Backends) -> RunDetail:
    folder = run_folder(runs_folder, run_id)
    return msgspec.convert(run_detail(folder, _models_of(backends, folder.name)), RunDetail)


@get(
    "/{run_id:str}/metrics",
    sync_to_thread=True,
    summary="A run's metrics rows from a position on",
    responses=_ONE_RUN,
)
def get_metrics(run_id: str, runs_folder: Path | None, after: Annotated[int, Parameter(ge=0)] = 0) -> MetricsPage:
    return msgspec.convert(metrics_page(run_folder(runs_folder, run_id), after), MetricsPage)


@get(
    "/{run_id:str}/loss.png",
    sync_to_thread=True,
    summary="A run's loss curve",
    media_type="image/png",
    responses=_ONE_RUN,
)
def get_loss_plot(run_id: str, runs_folder: Path | None) -> Response[bytes]:
    folder = run_folder(runs_folder, run_id)
    path = folder / "loss.png"
    if not path.is_file() or folder.resolve() not in path.resolve().parents:
        raise NotFoundException(f"the run {run_id!r} has no loss curve yet (loss.png is written when training ends)")
    return Response(path.read_bytes(), media_type="image/png", headers={"Cache-Control": "no-cache"})


def runs_router(settings: ServerSettings) -> Router:
    """The runs routes over the runs folder of `settings`."""
    runs = Path(settings.runs) if settings.runs else None
    return Router(
        path="/v1/runs",
        route_handlers=[list_runs, get_run, get_metrics, get_loss_plot],
        tags=["runs"],
        dependencies={"runs_folder": Provide(lambda: runs, use_cache=True, sync_to_thread=False)},
    )
