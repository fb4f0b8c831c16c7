"""The publish stage against a fake Hub on 127.0.0.1: what arrives, auth and network failures, dry runs, no token leaks."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from pipeline.common import ROOT, PipelineError
from pipeline.publish import git_revision, hub_files, publish_settings
from tests.test_hub_dataset import build_hub

TOKEN = "hf_test_secret_xyz"
REPO_ID = "test-org/value-probes"
COMMIT_OID = "c0ffee" * 6 + "c0ff"
API = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/(?P<op>preupload|commit|branch|tree)/(?P<rev>[^/?]+)")


class FakeHub(ThreadingHTTPServer):
    """Answers the endpoints create_repo / create_branch / list_repo_files / create_commit call, and records them."""

    def __init__(self, fail: int | None = None, fail_on: str = "", remote: tuple[str, ...] = ()):
        super().__init__(("127.0.0.1", 0), Handler)
        self.fail, self.fail_on, self.remote = fail, fail_on, remote
        self.requests: list[dict] = []
        self.commits: list[list[dict]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> FakeHub:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    server: FakeHub

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        self.handle_any()

    def do_POST(self) -> None:
        self.handle_any()

    def do_HEAD(self) -> None:
        self.handle_any()

    def body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while (size := int(self.rfile.readline().strip(), 16)) > 0:
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return data
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status: int, obj, headers: dict | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self) -> None:
        hub, body = self.server, self.body()
        hub.requests.append({"method": self.command, "path": self.path, "auth": self.headers.get("Authorization"),
                             "body": body})
        if hub.fail and hub.fail_on in self.path:
            headers = {"X-Error-Message": "Invalid credentials in Authorization header"} if hub.fail == 401 else {}
            if hub.fail == 404:
                headers = {"X-Error-Code": "RepoNotFound"}
            return self.reply(hub.fail, {"error": f"fake hub says {hub.fail}"}, headers)
        if self.path == "/api/repos/create":
            req = json.loads(body)
            return self.reply(200, {"url": f"{hub.url}/datasets/{req['organization']}/{req['name']}"})
        if self.path == "/api/validate-yaml":
            return self.reply(200, {"errors": [], "warnings": []})
        m = API.match(self.path)
        if m and m["op"] == "tree":
            return self.reply(200, [{"type": "file", "path": p, "size": 1, "oid": "0" * 40} for p in hub.remote])
        if m and m["op"] == "branch":
            return self.reply(200, {})
        if m and m["op"] == "preupload":
            files = json.loads(body)["files"]
            return self.reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                              for f in files]})
        if m and m["op"] == "commit":
            hub.commits.append([json.loads(line) for line in body.splitlines() if line.strip()])
            return self.reply(200, {"commitUrl": f"{hub.url}/datasets/{m['repo']}/commit/{COMMIT_OID}",
                                    "commitOid": COMMIT_OID, "success": True})
        return self.reply(404, {"error": f"fake hub has no {self.command} {self.path}"})


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    return build_hub(tmp_path_factory.mktemp("publish") / "hub", repo_id=REPO_ID)


def write_params(tmp_path: Path, **publish) -> Path:
    sec = {"enabled": True, "repo_id": REPO_ID, "revision": "main", "private": False} | publish
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"languages": ["de"], "publish": sec}), encoding="utf-8")
    return path


def run_publish(tmp_path: Path, hub_dir: Path, endpoint: str, token: str | None = TOKEN, **env_extra: str):
    # conftest turns offline mode on for the session; the fake Hub on 127.0.0.1 is not the network, so it is lifted here.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_") and k != "TRANSFORMERS_OFFLINE"}
    env |= {"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", **env_extra}
    if token:
        env["HF_TOKEN"] = token
    cmd = [sys.executable, "-m", "pipeline.publish", "--params", str(tmp_path / "params.yaml"),
           "--hub-dir", str(hub_dir), "--receipt", str(tmp_path / "publish.json")]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)


def assert_no_token_anywhere(res, *roots: Path) -> None:
    assert TOKEN not in res.stdout and TOKEN not in res.stderr
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_upload_sends_every_file_in_one_commit_with_the_git_revision(hub, tmp_path):
    write_params(tmp_path)
    stale = ("README.md", ".gitattributes", "data/xx/wvs.parquet", "data/en/wvs.parquet")
    with FakeHub(remote=stale) as server:
        res = run_publish(tmp_path, hub["dir"], server.url)
    assert res.returncode == 0, res.stderr
    paths = [r["path"].split("?")[0] for r in server.requests]
    assert paths[0] == "/api/repos/create"
    assert json.loads(server.requests[0]["body"]) == {"name": "value-probes", "organization": "test-org",
                                                      "visibility": "public", "type": "dataset"}
    assert "/api/validate-yaml" in paths and f"/api/datasets/{REPO_ID}/tree/main" in paths
    assert not any("/branch/" in p for p in paths)  # main exists; no branch to create
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in server.requests)  # the token goes to the Hub, nowhere else
    assert len(server.commits) == 1
    header, *ops = server.commits[0]
    assert header["key"] == "header"
    rev = git_revision()
    assert header["value"]["summary"] == f"Publish value-probes dataset from project revision {rev}"
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?|unknown \(not a git checkout\)", rev)
    sent = {op["value"]["path"]: base64.b64decode(op["value"]["content"]) for op in ops if op["key"] == "file"}
    local = {f["path"]: (hub["dir"] / f["path"]).read_bytes() for f in hub_files(hub["dir"])}
    assert sent == local and set(local) == {"README.md", *(f"data/{lang}/{s}.parquet" for lang in ("en", "de")
                                                            for s in ("hofstede", "wvs"))}
    assert [op["value"]["path"] for op in ops if op["key"] == "deletedFile"] == ["data/xx/wvs.parquet"]
    receipt = json.loads((tmp_path / "publish.json").read_text())
    assert receipt["mode"] == "published" and receipt["commit_oid"] == COMMIT_OID and receipt["git_revision"] == rev
    assert [f["path"] for f in receipt["files"]] == sorted(local)
    assert COMMIT_OID in res.stdout
    assert_no_token_anywhere(res, tmp_path, hub["dir"])


def test_upload_to_a_branch_creates_it_and_a_private_repo(hub, tmp_path):
    write_params(tmp_path, revision="v1", private=True)
    with FakeHub() as server:
        res = run_publish(tmp_path, hub["dir"], server.url)
    assert res.returncode == 0, res.stderr
    assert json.loads(server.requests[0]["body"])["visibility"] == "private"
    paths = [r["path"].split("?")[0] for r in server.requests]
    assert f"/api/datasets/{REPO_ID}/branch/v1" in paths and f"/api/datasets/{REPO_ID}/commit/v1" in paths
    assert_no_token_anywhere(res, tmp_path)


@pytest.mark.parametrize("status, fail_on, says", [
    (401, "", "the Hub refused the token for test-org/value-probes@main (401 Unauthorized): run `hf auth login`"),
    (403, "", "the token may not write to test-org/value-probes (403 Forbidden)"),
    (404, "/commit/", "test-org/value-probes not found (404): check `publish.repo_id`"),
])
def test_hub_errors_end_in_one_clear_line(hub, tmp_path, status, fail_on, says):
    write_params(tmp_path)
    with FakeHub(fail=status, fail_on=fail_on) as server:
        res = run_publish(tmp_path, hub["dir"], server.url)
    assert res.returncode == 2
    assert res.stderr.startswith("error: " + says), res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert server.requests and not server.commits
    assert not (tmp_path / "publish.json").exists()
    assert_no_token_anywhere(res, tmp_path)


def test_unreachable_hub_is_one_clear_line(hub, tmp_path):
    write_params(tmp_path)
    res = run_publish(tmp_path, hub["dir"], f"http://127.0.0.1:{closed_port()}")
    assert res.returncode == 2
    assert res.stderr.startswith("error: cannot reach http://127.0.0.1:") and "HF_ENDPOINT" in res.stderr
    assert res.stderr.count("\n") == 1
    assert_no_token_anywhere(res, tmp_path)


def test_offline_mode_is_one_clear_line_and_no_request(hub, tmp_path):
    write_params(tmp_path)
    with FakeHub() as server:
        res = run_publish(tmp_path, hub["dir"], server.url, HF_HUB_OFFLINE="1")
    assert res.returncode == 2 and server.requests == []
    assert res.stderr == ("error: cannot publish test-org/value-probes@main: offline mode is on (HF_HUB_OFFLINE=1); "
                          "unset it, or set `publish.enabled: false` in params.yaml to skip publishing\n")
    assert_no_token_anywhere(res, tmp_path)


@pytest.mark.parametrize("enabled, token, reason", [
    (False, TOKEN, "`publish.enabled` is false in params.yaml"),
    (True, None, "no Hub token: HF_TOKEN is unset and `hf auth login` was not run"),
])
def test_dry_run_lists_files_and_exits_0(hub, tmp_path, enabled, token, reason):
    write_params(tmp_path, enabled=enabled)
    with FakeHub() as server:
        res = run_publish(tmp_path, hub["dir"], server.url, token=token)
    assert res.returncode == 0, res.stderr
    assert server.requests == []
    out = res.stdout
    assert out.startswith(f"publish: dry run ({reason}); nothing uploaded.\n")
    assert f"to dataset repo {REPO_ID} (public if created), revision main, at {server.url}:" in out
    for f in hub_files(hub["dir"]):
        assert re.search(rf"^\s+{f['bytes']:,}  {re.escape(f['path'])}$", out, re.M), f
    assert "commit message: Publish value-probes dataset from project revision " in out
    receipt = json.loads((tmp_path / "publish.json").read_text())
    assert receipt["mode"] == "dry-run" and receipt["reason"] == reason and "git_revision" not in receipt
    assert_no_token_anywhere(res, tmp_path)


def test_dry_run_receipt_is_byte_identical_on_rerun(hub, tmp_path):
    write_params(tmp_path, enabled=False)
    first = run_publish(tmp_path, hub["dir"], "http://127.0.0.1:9")
    receipt = (tmp_path / "publish.json").read_bytes()
    second = run_publish(tmp_path, hub["dir"], "http://127.0.0.1:9")
    assert first.returncode == second.returncode == 0
    assert (tmp_path / "publish.json").read_bytes() == receipt


@pytest.mark.parametrize("bad, says", [
    ({"repo_id": "no-namespace"}, r"`publish.repo_id` is 'no-namespace'; write it as `namespace/name`"),
    ({"revision": "a" * 40}, r"name a branch to commit to"),
    ({"enabled": "yes"}, r"must be true or false"),
])
def test_bad_publish_params_are_named(tmp_path, bad, says):
    with pytest.raises(PipelineError, match=says):
        publish_settings(write_params(tmp_path, **bad))


def test_hub_files_needs_a_card_and_skips_temp_files(tmp_path):
    with pytest.raises(PipelineError, match=r"no dataset card.*dvc repro dataset"):
        hub_files(tmp_path / "empty")
    (tmp_path / "h" / "data").mkdir(parents=True)
    (tmp_path / "h" / "README.md").write_text("card")
    (tmp_path / "h" / "data" / ".x.parquet.tmp").write_text("half-written")
    assert [f["path"] for f in hub_files(tmp_path / "h")] == ["README.md"]


def test_git_revision_outside_git(tmp_path):
    assert git_revision(tmp_path) == "unknown (not a git checkout)"


def test_dvc_stage_tracks_the_receipt_not_the_token():
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["publish"]
    assert stage["cmd"] == "python -m pipeline.publish"
    assert "build/hub" in stage["deps"] and "pipeline/publish.py" in stage["deps"]
    assert stage["params"] == ["publish"]
    assert [next(iter(o)) if isinstance(o, dict) else o for o in stage["outs"]] == ["build/publish.json"]
    assert not stage.get("always_changed")
