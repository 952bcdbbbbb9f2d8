"""The emulator's git host: one bare repository per connection repository (``owner/name``).

Layout (``root`` is ``RELAY_EMULATOR_GIT_ROOT``; the launcher sets ``<state>/emulator/git``)::

    <root>/emulator.json              {"url": ...} of the running emulator, written at its start-up
    <root>/<owner>/<name>.git/        bare repository; plain `git push <file URL>` writes to it
    <root>/<owner>/<name>.git/hooks/post-receive
                                      tells the emulator about each push (ref, old and new commit)

Standard library only and Python 3.9 compatible: the launcher (``repo`` verb) creates
repositories with it whether or not the emulator runs, and the plugin reads them with it. Git
itself does the work (``git`` must be on PATH).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
import zipfile
from pathlib import Path

from relay_emulator.core.git_triggers import RepositoryIdError, check_repository_id

ROOT_ENV = "RELAY_EMULATOR_GIT_ROOT"
ENDPOINT_FILE = "emulator.json"
PUSH_PATH = "/_localstack/relay/git-push"
HOOK = "post-receive"
DEFAULT_BRANCH = "main"
CREATE_COMMAND = "relay emulator repo {repository}   (or: python3 localstack/emulator.py repo {repository})"

__all__ = [
    "GitError",
    "RepositoryIdError",
    "RepositoryMissing",
    "archive_zip",
    "changed_files",
    "clone_zip",
    "commit_info",
    "ensure_repository",
    "existing_repository",
    "refresh_hooks",
    "repository_path",
    "resolve_commit",
    "root_from_env",
    "url_of",
    "write_endpoint",
]


class GitError(RuntimeError):
    """A git command failed; the message names the command and git's own error."""


class RepositoryMissing(LookupError):
    """The repository does not exist in the git host; the message says how to create it."""


# The hook runs under whatever python3 the pushing user has (any 3.6+), outside the emulator.
# It always exits 0: the push is stored whether or not the emulator heard about it, as with a
# hosted repository whose webhook delivery failed.
_HOOK_SCRIPT = """#!/usr/bin/env python3
# Installed by relay's emulator: tells the running emulator about this push (ref, old and new
# commit) so that pipelines whose triggers match start. See localstack/README.md.
import json
import os
import sys
import urllib.error
import urllib.request

REPOSITORY = {repository!r}
PUSH_PATH = {push_path!r}
root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
updates = sys.stdin.read()
try:
    with open(os.path.join(root, {endpoint_file!r})) as fh:
        url = json.load(fh)["url"]
except (OSError, ValueError, KeyError):
    sys.stderr.write("relay emulator: has not run for this git host; push stored, no pipeline started\\n")
    sys.exit(0)
request = urllib.request.Request(
    url + PUSH_PATH,
    data=json.dumps({{"repository": REPOSITORY, "updates": updates}}).encode(),
    headers={{"Content-Type": "application/json"}},
    method="POST",
)
opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))  # the emulator is local
try:
    with opener.open(request, timeout=30) as response:
        answer = json.loads(response.read().decode())
except urllib.error.HTTPError as error:
    sys.stderr.write("relay emulator: the push notification failed at %s (HTTP %s: %s); push stored, "
                     "no pipeline started\\n" % (url, error.code, error.read().decode(errors="replace")[:300]))
    sys.exit(0)
except (urllib.error.URLError, OSError, ValueError) as error:
    sys.stderr.write("relay emulator: not running at %s (%s); push stored, no pipeline started\\n"
                     % (url, getattr(error, "reason", error)))
    sys.exit(0)
for line in answer.get("messages", []):
    sys.stdout.write("relay emulator: %s\\n" % line)
"""


def root_from_env(environ: dict | None = None) -> Path:
    """The git host's root from ``RELAY_EMULATOR_GIT_ROOT``; GitError when it is not set."""
    raw = (os.environ if environ is None else environ).get(ROOT_ENV)
    if not raw:
        raise GitError(f"{ROOT_ENV} is not set: start the emulator with its launcher (localstack/emulator.py)")
    return Path(raw)


def repository_path(root: Path, repository: str) -> Path:
    """``<root>/<owner>/<name>.git`` of a valid ``owner/name`` (RepositoryIdError otherwise)."""
    owner, name = check_repository_id(repository)
    return Path(root) / owner / f"{name}.git"


def url_of(path: Path) -> str:
    """The URL plain ``git push`` / ``git clone`` accept for a bare repository."""
    return Path(path).resolve().as_uri()


def _git_env() -> dict:
    # A hook or a caller's GIT_DIR / GIT_WORK_TREE must not redirect the commands run here.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def git(*args: str, cwd: Path | None = None, binary: bool = False):
    """Run ``git args`` and return its stdout (text, or bytes with ``binary``); GitError on failure."""
    exe = shutil.which("git")
    if exe is None:
        raise GitError("git is not on PATH; the emulator's git host needs it")
    done = subprocess.run(
        [exe, *args], cwd=str(cwd) if cwd else None, capture_output=True, env=_git_env(), stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout if binary else done.stdout.decode(errors="replace")


def install_hook(path: Path, repository: str) -> None:
    """Write (or refresh) the post-receive hook that tells the emulator about pushes."""
    hook = Path(path) / "hooks" / HOOK
    text = _HOOK_SCRIPT.format(repository=repository, push_path=PUSH_PATH, endpoint_file=ENDPOINT_FILE)
    hook.parent.mkdir(parents=True, exist_ok=True)
    if not hook.exists() or hook.read_text() != text:
        tmp = hook.with_name(HOOK + ".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(hook)


def ensure_repository(root: Path, repository: str) -> tuple:
    """(path, created): the bare repository of ``owner/name``, created with its hook if missing."""
    path = repository_path(root, repository)
    created = not (path / "HEAD").exists()
    if created:
        path.parent.mkdir(parents=True, exist_ok=True)
        git("init", "--quiet", "--bare", f"--initial-branch={DEFAULT_BRANCH}", str(path))
    install_hook(path, repository)
    return path, created


def existing_repository(root: Path, repository: str) -> Path:
    """The bare repository of ``owner/name``; RepositoryMissing naming the command that creates it."""
    path = repository_path(root, repository)
    if not (path / "HEAD").exists():
        raise RepositoryMissing(
            f"Repository {repository} does not exist in the emulator's git host ({path}); "
            f"create it with: {CREATE_COMMAND.format(repository=repository)}, then push to the URL it prints"
        )
    return path


def refresh_hooks(root: Path) -> int:
    """Re-install the hook of every repository under ``root`` (after a plugin upgrade); how many."""
    count = 0
    for path in sorted(Path(root).glob("*/*.git")):
        repository = f"{path.parent.name}/{path.name[: -len('.git')]}"
        try:
            check_repository_id(repository)
        except RepositoryIdError:
            continue
        install_hook(path, repository)
        count += 1
    return count


def write_endpoint(root: Path, url: str) -> None:
    """Record where the running emulator listens, for the hooks."""
    Path(root).mkdir(parents=True, exist_ok=True)
    target = Path(root) / ENDPOINT_FILE
    tmp = target.with_name(ENDPOINT_FILE + ".tmp")
    tmp.write_text(json.dumps({"url": url}) + "\n")
    tmp.replace(target)


def resolve_commit(path: Path, revision: str) -> str | None:
    """The full commit id a revision (branch ref, tag, commit id) names; None when there is none."""
    try:
        return git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", cwd=path).strip() or None
    except GitError:
        return None


def commit_info(path: Path, commit: str) -> dict:
    """``{id, message, date}`` of a commit (message without its trailing newline, date ISO 8601)."""
    out = git("show", "--no-patch", "--format=%H%x00%cI%x00%B", commit, cwd=path)
    commit_id, date, message = out.split("\0", 2)
    return {"id": commit_id, "date": date, "message": message.rstrip("\n")}


def changed_files(path: Path, old: str, new: str) -> list:
    """The files a push from ``old`` to ``new`` changed (both names of a rename); a new ref: the
    files its tip commit changed."""
    base = old if old and set(old) != {"0"} and resolve_commit(path, old) else None
    if base is None:
        parents = git("rev-list", "--parents", "-n", "1", new, cwd=path).split()[1:]
        base = parents[0] if parents else None
    args = ["diff-tree", "-r", "-z", "--name-only", "--no-commit-id", "--no-renames"]
    out = git(*args, base, new, cwd=path) if base else git(*args, "--root", new, cwd=path)
    return sorted({f for f in out.split("\0") if f})


def archive_zip(path: Path, commit: str) -> bytes:
    """The commit's tree as a zip, without ``.git`` (``git archive``: same commit, same bytes)."""
    return git("archive", "--format=zip", commit, cwd=path, binary=True)


def clone_zip(path: Path, commit: str, branch: str) -> bytes:
    """A zip of a full clone (with ``.git``, origin = the repository's URL) on ``branch`` at ``commit``."""
    with tempfile.TemporaryDirectory(prefix="relay-clone-") as tmp:
        work = Path(tmp) / "src"
        git("clone", "--quiet", "--no-checkout", url_of(path), str(work))
        git("checkout", "--quiet", "-B", branch, commit, cwd=work)
        return _zip_tree(work)


def _zip_tree(top: Path) -> bytes:
    """A zip of every file and symlink under ``top`` (modes kept, names sorted)."""
    out = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                full = Path(dirpath) / name
                arcname = full.relative_to(top).as_posix()
                st = full.lstat()
                if stat.S_ISLNK(st.st_mode):
                    info = zipfile.ZipInfo(arcname)
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                    zf.writestr(info, os.readlink(full))
                else:
                    zf.write(full, arcname)
    out.seek(0)
    return out.read()
