"""Stage `publish`: upload build/hub/ to the Hub dataset repo in params `publish:`, or list what it would upload.

It uploads only when `publish.enabled` is true and a token is found (HF_TOKEN, or the login store of
`hf auth login`); otherwise it is a dry run that exits 0. Either way it writes a receipt,
build/publish.json, that DVC tracks. The token is never printed, logged or written.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.common import ROOT, PipelineError, cli, write_json
from pipeline.params import PARAMS_FILE, section

HUB_DIR = ROOT / "build" / "hub"
RECEIPT = ROOT / "build" / "publish.json"
REPO_TYPE = "dataset"
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
LOGIN = "run `hf auth login` or set HF_TOKEN to a token with write access"
SKIP_HINT = "or set `publish.enabled: false` in params.yaml to skip publishing"


@dataclass(frozen=True)
class Target:
    """Where to publish: a dataset repo, the branch to commit to, and its visibility when created."""

    repo_id: str
    revision: str
    private: bool


def publish_settings(path: Path = PARAMS_FILE) -> tuple[bool, Target]:
    """`publish.enabled` and the target, checked."""
    sec = section("publish", path)
    enabled, private = sec.get("enabled", False), sec.get("private", False)
    repo_id, revision = sec.get("repo_id"), sec.get("revision") or "main"
    if not isinstance(enabled, bool) or not isinstance(private, bool):
        raise PipelineError(f"{path}: `publish.enabled` and `publish.private` must be true or false")
    if not isinstance(repo_id, str) or not REPO_ID.match(repo_id):
        raise PipelineError(f"{path}: `publish.repo_id` is {repo_id!r}; write it as `namespace/name`, e.g. my-org/value-probes")
    if not isinstance(revision, str) or COMMIT_SHA.match(revision):
        raise PipelineError(f"{path}: `publish.revision` is {revision!r}; name a branch to commit to (e.g. main), not a commit")
    return enabled, Target(repo_id, revision, private)


def hub_files(hub_dir: Path) -> list[dict[str, Any]]:
    """Every file to upload, sorted by path: path in the repo, size and sha256 (hidden temp files left out)."""
    hub_dir = Path(hub_dir)
    if not (hub_dir / "README.md").is_file():
        raise PipelineError(f"{hub_dir}: no dataset card (README.md). Run `dvc repro dataset` to build the dataset.")
    files = []
    for path in sorted(p for p in hub_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(hub_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue
        data = path.read_bytes()
        files.append({"path": rel.as_posix(), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    return files


def git_revision(root: Path = ROOT) -> str:
    """`git rev-parse HEAD`, plus `-dirty` when files differ from it; a plain note outside git."""
    def git(*args: str) -> str:
        # --no-optional-locks: a read must not take .git/index.lock from someone committing at the same time.
        return subprocess.run(["git", "--no-optional-locks", *args], cwd=root, capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()
    try:
        sha = git("rev-parse", "--verify", "HEAD")
        dirty = git("status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return sha + ("-dirty" if dirty else "")


def commit_message(git_rev: str) -> str:
    """The Hub commit's summary line, naming the project revision that built the files."""
    return f"Publish value-probes dataset from project revision {git_rev}"


def find_token() -> str | None:
    """HF_TOKEN or the token of `hf auth login`; None when neither is there."""
    from huggingface_hub import get_token

    return get_token()


def endpoint() -> str:
    """The Hub endpoint huggingface_hub will talk to (HF_ENDPOINT or the public Hub)."""
    from huggingface_hub import constants

    return constants.ENDPOINT


def listing(files: list[dict[str, Any]], target: Target, message: str, reason: str) -> str:
    """What a dry run prints: the files, their sizes, the target and how to publish for real."""
    total = sum(f["bytes"] for f in files)
    lines = [
        f"publish: dry run ({reason}); nothing uploaded.",
        f"would upload {len(files)} files, {total:,} bytes, to dataset repo {target.repo_id} "
        f"({'private' if target.private else 'public'} if created), revision {target.revision}, at {endpoint()}:",
        *(f"  {f['bytes']:>12,}  {f['path']}" for f in files),
        "files under data/ on the Hub that are not listed here would be deleted in the same commit.",
        f"commit message: {message}",
        "to publish: set `publish.enabled: true` in params.yaml, log in with `hf auth login` (or set HF_TOKEN), and run "
        "`dvc repro publish` (`dvc repro -f publish` if only the token changed).",
    ]
    return "\n".join(lines)


def card_names_repo(hub_dir: Path, repo_id: str) -> bool:
    """Whether the built card points readers at `repo_id` (it is rendered from params `publish.repo_id`)."""
    return repo_id in (Path(hub_dir) / "README.md").read_text(encoding="utf-8")


def upload(hub_dir: Path, files: list[dict[str, Any]], target: Target, token: str, message: str) -> dict[str, str]:
    """Create the repo (and branch) if missing, then one commit: every local file, minus stale remote data files."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi(token=token)
    api.create_repo(target.repo_id, repo_type=REPO_TYPE, private=target.private, exist_ok=True)
    if target.revision != "main":
        api.create_branch(target.repo_id, repo_type=REPO_TYPE, branch=target.revision, exist_ok=True)
    local = {f["path"] for f in files}
    remote = api.list_repo_files(target.repo_id, repo_type=REPO_TYPE, revision=target.revision)
    # A language dropped from params leaves its parquet files behind; the card no longer names them.
    stale = sorted(p for p in remote if p.startswith("data/") and p not in local)
    operations = [CommitOperationAdd(path_in_repo=f["path"], path_or_fileobj=str(Path(hub_dir) / f["path"])) for f in files]
    operations += [CommitOperationDelete(path_in_repo=p) for p in stale]
    info = api.create_commit(target.repo_id, operations, repo_type=REPO_TYPE, revision=target.revision,
                             commit_message=message,
                             commit_description=f"{len(files)} files uploaded, {len(stale)} stale data files deleted, "
                                                "by `python -m pipeline.publish` (DVC stage `publish`).")
    return {"commit_url": str(info.commit_url), "commit_oid": str(info.oid), "deleted": stale}


def explain(err: BaseException, target: Target, url: str) -> str | None:
    """One line that says what went wrong talking to the Hub and what to do; None for an unexpected error."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RevisionNotFoundError

    where = f"{target.repo_id}@{target.revision}"
    if isinstance(err, OfflineModeIsEnabled):
        return f"cannot publish {where}: offline mode is on (HF_HUB_OFFLINE=1); unset it, {SKIP_HINT}"
    if isinstance(err, HfHubHTTPError):
        code = err.response.status_code if err.response is not None else None
        if code == 401:
            return f"the Hub refused the token for {where} (401 Unauthorized): {LOGIN}"
        if code == 403:
            namespace = target.repo_id.split("/")[0]
            return (f"the token may not write to {target.repo_id} (403 Forbidden): use a token with write access to "
                    f"`{namespace}`, or set `publish.repo_id` to a namespace you own")
        if isinstance(err, RevisionNotFoundError):
            return f"revision {target.revision!r} not found in {target.repo_id} (404): fix `publish.revision` in params.yaml"
        if code == 404:
            return (f"{target.repo_id} not found (404): check `publish.repo_id` in params.yaml and that the token "
                    f"may write there; {LOGIN}")
        return f"the Hub answered {code} for {where}; try again later, {SKIP_HINT}"
    if isinstance(err, httpx2.TimeoutException):
        return f"timed out talking to {url} while publishing {where}; try again later, {SKIP_HINT}"
    if isinstance(err, (httpx2.TransportError, ConnectionError)):
        return (f"cannot reach {url} to publish {where} ({type(err).__name__}); check the network and HF_ENDPOINT, "
                f"{SKIP_HINT}")
    if isinstance(err, ValueError) and "Invalid metadata in README.md" in str(err):
        return ("the Hub rejected the YAML header of build/hub/README.md: "
                + " ".join(str(err).split()[4:])[:300] + "; fix pipeline/card.py and run `dvc repro dataset`")
    return None


def scrub(text: str, token: str) -> str:
    """The text with the token blanked out, in case a server or library echoed it."""
    return text.replace(token, "***") if token else text


def publish(hub_dir: Path, files: list[dict[str, Any]], target: Target, token: str) -> dict[str, Any]:
    """Upload and return the receipt; a network or auth failure becomes one clear PipelineError."""
    from huggingface_hub import constants

    url = endpoint()
    where = f"{target.repo_id}@{target.revision}"
    if constants.is_offline_mode():
        raise PipelineError(f"cannot publish {where}: offline mode is on (HF_HUB_OFFLINE=1); unset it, {SKIP_HINT}")
    if not card_names_repo(hub_dir, target.repo_id):
        raise PipelineError(f"{hub_dir}/README.md was rendered for another repo than {target.repo_id}; "
                            "run `dvc repro -f dataset` to render it for `publish.repo_id`, then publish")
    git_rev = git_revision()
    message = commit_message(git_rev)
    print(f"publish: uploading {len(files)} files to {where} at {url} ...", flush=True)
    try:
        result = upload(hub_dir, files, target, token, message)
    except Exception as err:  # the Hub client raises many types; explain() picks out the ones a user can fix
        line = explain(err, target, url)
        if line is None:
            raise PipelineError(scrub(f"publishing {where} failed: {type(err).__name__}: "
                                      + " ".join(str(err).split())[:300], token)) from None
        raise PipelineError(scrub(line, token)) from None
    print(f"publish: committed {result['commit_oid']} ({result['commit_url']})"
          + (f", deleted {len(result['deleted'])} stale files" if result["deleted"] else ""))
    return {"mode": "published", "git_revision": git_rev, "commit_message": message, **result}


@cli
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=PARAMS_FILE, help="params file (default: params.yaml)")
    ap.add_argument("--hub-dir", type=Path, default=HUB_DIR, help="dataset folder to upload (default: build/hub)")
    ap.add_argument("--receipt", type=Path, default=RECEIPT, help="receipt to write (default: build/publish.json)")
    args = ap.parse_args(argv)
    enabled, target = publish_settings(args.params)
    files = hub_files(args.hub_dir)
    receipt: dict[str, Any] = {"repo_type": REPO_TYPE, "repo_id": target.repo_id, "revision": target.revision,
                               "private": target.private, "files": files}
    token = find_token() if enabled else None
    if token:
        receipt |= publish(args.hub_dir, files, target, token)
    else:
        reason = "no Hub token: HF_TOKEN is unset and `hf auth login` was not run" if enabled else \
            "`publish.enabled` is false in params.yaml"
        print(listing(files, target, commit_message(git_revision()), reason))
        if not card_names_repo(args.hub_dir, target.repo_id):
            print(f"note: {args.hub_dir}/README.md points readers to another repo than {target.repo_id}; "
                  "run `dvc repro -f dataset` before publishing")
        # The receipt of a dry run leaves out the git revision, so that it stays byte-identical across commits.
        receipt |= {"mode": "dry-run", "reason": reason}
    write_json(receipt, args.receipt)


if __name__ == "__main__":
    main()
