"""POST /v1/publish (start a job) and GET /v1/publish/{id} (its steps, progress and outcome), as one Router.

The app registers `publish_router(jobs)`; the API key guard covers these routes like every `/v1/` route. Only
package folders the server serves (`--model`, and the packages of runs under `--runs`) may be published, with the
server's own Hub login and Ollama daemon. A publish job is a job like any other: GET /v1/jobs/{id} reports it too.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, Router, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec

from tunesmith.server.jobs import PublishJobs
from tunesmith.server.routes.generation import ERROR_RESPONSES
from tunesmith.server.schemas import ErrorBody

__all__ = ["PublishRequest", "publish_router"]


class PublishRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What to publish where: `hf` is USER/REPO, `ollama` USER/NAME[:TAG]; at least one of them."""

    package: str
    hf: str | None = None
    ollama: str | None = None
    private: bool = True
    push: bool = True


@post(
    "/",
    status_code=202,
    sync_to_thread=True,
    summary="Start publishing a package",
    responses={
        400: ResponseSpec(ErrorBody, description="A bad name, or a package this server does not serve."),
        401: ERROR_RESPONSES[401],
        413: ERROR_RESPONSES[413],
    },
    description="Checks names and package at once (400 when bad), then publishes in the background.",
)
def start_publish(data: PublishRequest, publish_jobs: PublishJobs) -> Response[dict[str, Any]]:
    job = publish_jobs.start(data.package, hf=data.hf, ollama=data.ollama, private=data.private, push=data.push)
    return Response(job.as_dict(), status_code=202, headers={"Location": f"/v1/publish/{job.id}"})


@get(
    "/{job_id:str}",
    sync_to_thread=False,
    summary="A publish job's steps and outcome",
    responses={401: ERROR_RESPONSES[401], 404: ResponseSpec(ErrorBody, description="No publish job has that id.")},
)
def get_publish(job_id: str, publish_jobs: PublishJobs) -> dict[str, Any]:
    job = publish_jobs.get(job_id)
    if job is None or job.kind != "publish":
        raise NotFoundException(f"no publish job {job_id!r}; POST /v1/publish returns the id of the job it starts")
    return job.as_dict()


def publish_router(jobs: PublishJobs) -> Router:
    """The publish routes, starting their jobs with `jobs`."""
    return Router(
        path="/v1/publish",
        route_handlers=[start_publish, get_publish],
        tags=["publish"],
        dependencies={"publish_jobs": Provide(lambda: jobs, use_cache=True, sync_to_thread=False)},
    )
