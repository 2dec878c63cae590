"""Publishing to the Hugging Face Hub against a stateful fake of its HTTP API: the repo created, LFS objects uploaded
and every file committed, for a package and an adapter package; a rerun after an interruption, or after one file
changed, sends only what is missing. test_hub_token.py checks where the token goes and the Hub's failures.

huggingface_hub 2.4 speaks httpx2, which pytest-httpx does not intercept; the fake is plugged in at the library's
own boundary (`set_client_factory` with an httpx2 MockTransport) and answers with the Hub's documented shapes.
Xet is switched off so uploads take the LFS protocol, whose requests can be checked here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from urllib.parse import parse_qs

import httpx2
import pytest
from huggingface_hub import constants as hub_constants
from huggingface_hub.utils._http import default_client_factory, hf_request_event_hook, set_client_factory
from huggingface_hub.utils.sha import git_hash

from tests.fixtures.package_folder import CHATML, write_adapter_package
from tunesmith.publish import publish_to_hf

TOKEN = "hf_tunesmithTESTsecret0123456789abcdef"
REPO = "alice/demo-GGUF"
STORAGE = "storage.fake-hub.test"


class FakeHub:
    """The Hub endpoints a commit uses, with state: LFS objects stored, files committed, every request seen."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.repos: dict[str, dict] = {}
        self.lfs: dict[str, bytes] = {}
        self.committed: dict[str, bytes] = {}
        self.commits: list[list[dict]] = []
        self.fail: dict[tuple[str, str], object] = {}  # (method, path) -> status code or exception to raise
        self.interrupt_oid: str | None = None
        self.uploaded = threading.Event()

    def calls(self) -> list[tuple[str, str]]:
        return [(request.method, request.url.path) for request in self.requests]

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        if request.url.path == "/api/agent-harnesses":
            return httpx2.Response(404)  # huggingface_hub's own once-a-day user-agent lookup, not ours
        self.requests.append(request)
        failure = self.fail.get((request.method, request.url.path))
        if isinstance(failure, BaseException):
            raise failure
        if isinstance(failure, int):
            return httpx2.Response(failure, json={"error": "Invalid credentials in Authorization header"})
        if request.url.host == STORAGE:
            return self._store(request)
        path = request.url.path
        if path == "/api/repos/create":
            return self._create(json.loads(request.content))
        repo_path = f"/api/models/{REPO}"
        if path == f"{repo_path}/paths-info/main":
            return self._paths_info(parse_qs(request.content.decode())["paths"])
        if path == f"{repo_path}/preupload/main":
            return self._preupload(json.loads(request.content)["files"])
        if path == f"/{REPO}.git/info/lfs/objects/batch":
            return self._batch(json.loads(request.content))
        if path == "/api/validate-yaml":
            return httpx2.Response(200, json={"errors": [], "warnings": []})
        if path == f"{repo_path}/commit/main":
            return self._commit(request.content)
        return httpx2.Response(404, json={"error": f"no route {request.method} {path}"})

    def _create(self, body: dict) -> httpx2.Response:
        repo_id = f"{body['organization']}/{body['name']}"
        if repo_id in self.repos:
            return httpx2.Response(
                409, json={"error": "You already created this model repo", "url": f"https://huggingface.co/{repo_id}"}
            )
        self.repos[repo_id] = body
        return httpx2.Response(200, json={"url": f"https://huggingface.co/{repo_id}"})

    def _entry(self, path: str) -> dict:
        data = self.committed[path]
        if path.endswith(".gguf"):
            return {
                "type": "file",
                "path": path,
                "size": len(data),
                "oid": "0" * 40,
                "lfs": {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134},
            }
        return {"type": "file", "path": path, "size": len(data), "oid": git_hash(data)}

    def _paths_info(self, paths: list[str]) -> httpx2.Response:
        return httpx2.Response(200, json=[self._entry(path) for path in paths if path in self.committed])

    def _preupload(self, files: list[dict]) -> httpx2.Response:
        answer = []
        for item in files:
            lfs = item["path"].endswith(".gguf")
            known = self.committed.get(item["path"])
            oid = None if known is None else (hashlib.sha256(known).hexdigest() if lfs else git_hash(known))
            answer.append(
                {"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        return httpx2.Response(200, json={"files": answer})

    def _batch(self, body: dict) -> httpx2.Response:
        objects = []
        for obj in body["objects"]:
            if obj["oid"] in self.lfs:
                objects.append({"oid": obj["oid"], "size": obj["size"]})  # no actions: already stored
            else:
                objects.append(
                    {
                        "oid": obj["oid"],
                        "size": obj["size"],
                        "authenticated": True,
                        "actions": {"upload": {"href": f"https://{STORAGE}/upload/{obj['oid']}"}},
                    }
                )
        return httpx2.Response(200, json={"transfer": "basic", "objects": objects})

    def _store(self, request: httpx2.Request) -> httpx2.Response:
        oid = request.url.path.rsplit("/", 1)[1]
        if oid == self.interrupt_oid:
            # The other file finishes first, then the user presses Ctrl-C during this one.
            self.uploaded.wait(10)
            raise KeyboardInterrupt
        assert hashlib.sha256(request.content).hexdigest() == oid
        self.lfs[oid] = request.content
        self.uploaded.set()
        return httpx2.Response(200)

    def _commit(self, content: bytes) -> httpx2.Response:
        lines = [json.loads(line) for line in content.splitlines()]
        self.commits.append(lines)
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                self.committed[value["path"]] = base64.b64decode(value["content"])
            elif line["key"] == "lfsFile":
                if value["oid"] not in self.lfs:
                    return httpx2.Response(422, json={"error": f"LFS object {value['oid']} was never uploaded"})
                self.committed[value["path"]] = self.lfs[value["oid"]]
        return httpx2.Response(
            200,
            json={
                "commitUrl": f"https://huggingface.co/{REPO}/commit/{'a' * 40}",
                "commitOid": "a" * 40,
                "pullRequestUrl": None,
            },
        )


@pytest.fixture
def hub(monkeypatch):
    """The fake Hub, plugged into huggingface_hub with Xet off and HF_TOKEN set to TOKEN."""
    fake = FakeHub()
    monkeypatch.setattr(hub_constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    set_client_factory(
        lambda: httpx2.Client(
            transport=httpx2.MockTransport(fake.handler),
            follow_redirects=True,
            event_hooks={"request": [hf_request_event_hook]},
        )
    )
    yield fake
    set_client_factory(default_client_factory)


def _expected_files(package) -> dict[str, bytes]:
    files = {path.name: path.read_bytes() for path in package.iterdir()}
    params = {"num_ctx": 2048, "stop": ["<|im_end|>", "<|im_start|>"], "temperature": 0.2}
    return {
        **files,
        "template": CHATML.encode(),
        "system": b"You answer in one sentence.",
        "params": (json.dumps(params, indent=2, sort_keys=True) + "\n").encode(),
    }


def test_first_publish_creates_the_repo_uploads_lfs_objects_and_commits_every_file(hub, package):
    url = publish_to_hf(package, REPO, private=True)

    assert url == f"https://huggingface.co/{REPO}"
    assert hub.repos[REPO] == {"name": "demo-GGUF", "organization": "alice", "visibility": "private", "type": "model"}
    assert hub.calls()[:3] == [
        ("POST", "/api/repos/create"),
        ("POST", f"/api/models/{REPO}/paths-info/main"),
        ("POST", "/api/validate-yaml"),
    ]
    assert hub.calls()[-1] == ("POST", f"/api/models/{REPO}/commit/main")
    ggufs = sorted(path for path in package.iterdir() if path.suffix == ".gguf")
    puts = sorted(request.url.path for request in hub.requests if request.method == "PUT")
    assert puts == sorted(f"/upload/{hashlib.sha256(path.read_bytes()).hexdigest()}" for path in ggufs)
    assert hub.committed == _expected_files(package)
    header = hub.commits[0][0]
    assert header["key"] == "header" and header["value"]["summary"] == "Publish demo with tunesmith"
    params = json.loads(hub.committed["params"])
    assert params == {"num_ctx": 2048, "stop": ["<|im_end|>", "<|im_start|>"], "temperature": 0.2}


def test_an_adapter_package_commits_the_base_and_the_adapter_with_the_ollama_files(hub, tmp_path):
    package = write_adapter_package(tmp_path / "demo")
    publish_to_hf(package, REPO)

    ggufs = {name: (package / name).read_bytes() for name in ("demo-base-Q4_K_M.gguf", "demo-adapter-F16.gguf")}
    puts = sorted(request.url.path for request in hub.requests if request.method == "PUT")
    assert puts == sorted(f"/upload/{hashlib.sha256(data).hexdigest()}" for data in ggufs.values())
    lfs_paths = sorted(line["value"]["path"] for line in hub.commits[0][1:] if line["key"] == "lfsFile")
    assert lfs_paths == sorted(ggufs)
    assert {name: hub.committed[name] for name in ggufs} == ggufs
    assert hub.committed == _expected_files(package)
    assert "ADAPTER ./demo-adapter-F16.gguf" in hub.committed["Modelfile"].decode()
    assert json.loads(hub.committed["params"]) == {
        "num_ctx": 2048,
        "stop": ["<|im_end|>", "<|im_start|>"],
        "temperature": 0.2,
    }
    assert hub.committed["template"] == CHATML.encode()
    assert hub.commits[0][0]["value"]["summary"] == "Publish demo with tunesmith", "the model, not its base file"


def test_rerun_after_an_interruption_sends_only_what_is_missing_then_nothing(hub, package):
    second = hashlib.sha256((package / "demo-Q8_0.gguf").read_bytes()).hexdigest()
    first = hashlib.sha256((package / "demo-Q4_K_M.gguf").read_bytes()).hexdigest()
    hub.interrupt_oid = second
    with pytest.raises(KeyboardInterrupt):
        publish_to_hf(package, REPO)
    assert set(hub.lfs) == {first} and hub.committed == {}

    hub.interrupt_oid = None
    hub.requests.clear()
    publish_to_hf(package, REPO)
    assert [request.url.path for request in hub.requests if request.method == "PUT"] == [f"/upload/{second}"]
    assert ("POST", "/api/repos/create") in hub.calls()  # the 409 "already exists" is fine
    assert hub.committed == _expected_files(package)

    hub.requests.clear()
    assert publish_to_hf(package, REPO) == f"https://huggingface.co/{REPO}"
    assert hub.calls() == [("POST", "/api/repos/create"), ("POST", f"/api/models/{REPO}/paths-info/main")]


def test_a_changed_file_is_the_only_one_committed_again(hub, package):
    publish_to_hf(package, REPO)
    (package / "README.md").write_text("---\nlicense: apache-2.0\n---\n# demo, better card\n")
    hub.requests.clear()
    publish_to_hf(package, REPO)
    assert [request.method for request in hub.requests].count("PUT") == 0
    paths = [line["value"]["path"] for line in hub.commits[-1][1:]]
    assert paths == ["README.md"]
    assert hub.committed["README.md"] == (package / "README.md").read_bytes()
