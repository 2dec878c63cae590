"""The jobs routes: POST /v1/runs (start `tunesmith run`), POST /v1/runs/{id}/package, GET /v1/jobs, GET /v1/jobs/{id}
and POST /v1/jobs/{id}/cancel (publish jobs start at POST /v1/publish, routes/publish.py).

`JOB_ROUTES` are plain handlers the app registers after the runs Router, with the app's `jobs` (JobRegistry) and
`run_jobs` (RunJobs) dependencies: Litestar joins a handler into the route a Router already made for its path
(GET /v1/runs), while two Routers on one path would each bring an OPTIONS handler and clash.

A request whose input the command would refuse is answered 400 with the command's own message, and starts nothing.
The API key guard covers these routes like every `/v1/` route; without keys, those that start or cancel work answer
only clients on the server's machine (server/auth.py).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, get, post
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec

from tunesmith.server.job_runners import RunJobs
from tunesmith.server.jobs import JobRegistry
from tunesmith.server.routes.generation import ERROR_RESPONSES
from tunesmith.server.schemas import ErrorBody

__all__ = ["JOB_ROUTES", "RunRequest"]

_STARTS = {
    401: ERROR_RESPONSES[401],
    403: ResponseSpec(ErrorBody, description="No API keys are configured and the client is not on this machine."),
    409: ResponseSpec(ErrorBody, description="A job is already working on that run."),
}


# Routes that start or cancel work touch files and processes (a worker thread); those that read jobs do not.
_ACTS: dict[str, Any] = {"sync_to_thread": True, "tags": ["jobs"]}
_READS: dict[str, Any] = {"sync_to_thread": False, "tags": ["jobs"]}


class RunRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A project file the server can read (a path on the server) and `--set KEY=VALUE` overrides."""

    config: str
    overrides: list[str] = []


def _accepted(job: Any) -> Response[dict[str, Any]]:
    return Response(job.as_dict(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


@post(
    "/v1/runs",
    status_code=202,
    **_ACTS,
    summary="Start `tunesmith run` on a project file",
    responses={400: ResponseSpec(ErrorBody, description="The config `tunesmith run` would refuse."), **_STARTS},
    description="Reads and checks the project file and overrides at once (400 with the message `tunesmith run` "
    "prints), then runs it in a child process; the run folder is `<runs>/<name>` unless the project names one.",
)
def start_run(data: RunRequest, run_jobs: RunJobs) -> Response[dict[str, Any]]:
    return _accepted(run_jobs.start_run(data.config, data.overrides))


@post(
    "/v1/runs/{run_id:str}/package",
    status_code=202,
    **_ACTS,
    summary="Package a finished run as its project says",
    responses={
        400: ResponseSpec(
            ErrorBody, description="The id is not a run name, or the run records no project or has no trained adapter."
        ),
        404: ResponseSpec(ErrorBody, description="No run folder has that name."),
        **_STARTS,
    },
    description="Runs `tunesmith package --run <runs>/<id>` in a child process.",
)
def start_package(run_id: str, run_jobs: RunJobs) -> Response[dict[str, Any]]:
    return _accepted(run_jobs.start_package(run_id))


@get(
    "/v1/jobs",
    **_READS,
    summary="The jobs, newest first",
    responses={401: ERROR_RESPONSES[401]},
)
def list_jobs(jobs: JobRegistry) -> dict[str, Any]:
    return {"object": "list", "data": [job.as_dict() for job in jobs.newest_first()]}


def _job(jobs: JobRegistry, job_id: str) -> Any:
    job = jobs.get(job_id)
    if job is None:
        raise NotFoundException(f"no job {job_id!r}; GET /v1/jobs lists the jobs this server remembers")
    return job


@get(
    "/v1/jobs/{job_id:str}",
    **_READS,
    summary="A job's steps and outcome",
    responses={401: ERROR_RESPONSES[401], 404: ResponseSpec(ErrorBody, description="No job has that id.")},
)
def get_job(job_id: str, jobs: JobRegistry) -> dict[str, Any]:
    return _job(jobs, job_id).as_dict()


@post(
    "/v1/jobs/{job_id:str}/cancel",
    status_code=200,
    **_ACTS,
    summary="Cancel a queued or running job",
    responses={
        404: ResponseSpec(ErrorBody, description="No job has that id."),
        **_STARTS,
        409: ResponseSpec(ErrorBody, description="The job has already finished."),
    },
    description="Stops the job's command (SIGTERM to its process group, SIGKILL after a grace period) and answers "
    "once it has stopped.",
)
def cancel_job(job_id: str, jobs: JobRegistry) -> dict[str, Any]:
    return jobs.cancel(_job(jobs, job_id)).as_dict()


JOB_ROUTES = [start_run, start_package, list_jobs, get_job, cancel_job]
