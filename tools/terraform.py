"""Run Terraform on the synthesized stacks, after checking that Terraform can install its provider.

Before anything slow starts, `preflight()` finds where `terraform init` will get the one provider the
stacks use (hashicorp/aws at the version in `PROVIDER_VERSION` of `modules/`), in this order:

1. `RELAY_TF_MIRROR=<dir>`: a filesystem mirror relay names in its own CLI configuration;
2. the user's own Terraform CLI configuration with a `provider_installation` block (`TF_CLI_CONFIG_FILE`,
   or `~/.terraformrc` and `~/.terraform.d/*.tfrc`): used as it is;
3. the local mirror directories Terraform searches by itself (`~/.terraform.d/plugins`,
   `$XDG_DATA_HOME/terraform/plugins`, `$XDG_DATA_DIRS/terraform/plugins`, ...);
4. the public registry, when a connection to it opens within a few seconds;
5. relay's shared plugin cache, when it already holds the provider (used as a mirror: offline reruns).

Otherwise it fails at once with one message saying how to point Terraform at a mirror. Terraform runs
with relay's CLI configuration (`.relay/terraformrc`: the shared plugin cache, and the mirror of 1 or 5)
unless the user's own configuration decides (2).

    python -m tools.terraform check                  # Terraform's version and where the provider comes from
    python -m tools.terraform validate [STACK ...]   # init (offline-capable) + validate
    python -m tools.terraform plan [STACK ...]       # init + plan (needs credentials or the emulator)
    python -m tools.terraform env                    # print the environment to use terraform by hand

Standard library only (and `config.paths`), so `python3 -m tools.terraform check` also runs before any
of the project's environments is installed.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import enum
import fcntl
import functools
import json
import os
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from config import paths

MIN_TERRAFORM = (1, 5)
S3_LOCKFILE_TERRAFORM = (1, 10)
"""The S3 backend's `use_lockfile` (S3-native state locking) exists from Terraform 1.10 on."""
REGISTRY = "registry.terraform.io"
PROVIDER = (REGISTRY, "hashicorp", "aws")
PROBE_TIMEOUT = 3.0
README_SECTION = 'README.md, section "Terraform by hand and offline"'
MODULES_DIR = paths.PROJECT_ROOT / "modules"
# Two `terraform init`s filling an empty plugin cache at once collide ("file exists"); inits are short,
# so they run one at a time while the slow part (validate, plan) stays parallel.
_INIT_LOCK = threading.Lock()

Probe = Callable[[str, int], None]
"""Opens a connection to (host, port) and raises OSError when it cannot."""


class TerraformError(Exception):
    """Terraform is missing, too old, cannot install its provider, or a command failed; the message says which."""


# --- Terraform itself -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TerraformInfo:
    """What `terraform version -json` says about the Terraform on PATH."""

    binary: str
    version: tuple[int, ...]
    text: str
    platform: str
    """`<os>_<arch>` as in provider packages, e.g. `linux_amd64`."""


def parse_version(binary: str, output: str) -> TerraformInfo:
    """Read the output of `terraform version -json`."""
    try:
        document = json.loads(output)
        text = document["terraform_version"]
        platform = document["platform"]
    except (ValueError, KeyError, TypeError) as error:
        raise TerraformError(
            f"{binary} did not answer `terraform version -json` ({error}); need Terraform >= {dotted(MIN_TERRAFORM)}"
        ) from error
    version = tuple(int(re.match(r"\d*", part)[0] or 0) for part in text.split("."))
    return TerraformInfo(binary, version, text, platform)


def dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


@functools.cache
def terraform_info() -> TerraformInfo:
    """The Terraform on PATH, asked once per process, checked against the minimum version."""
    binary = shutil.which("terraform")
    if not binary:
        raise TerraformError(
            f"terraform is not on PATH; install Terraform >= {dotted(MIN_TERRAFORM)} "
            "(https://developer.hashicorp.com/terraform/install)"
        )
    # A missing TF_CLI_CONFIG_FILE only makes Terraform warn on stderr; stdout stays JSON.
    result = subprocess.run([binary, "version", "-json"], capture_output=True, text=True, check=False)
    info = parse_version(binary, result.stdout)
    if info.version[:2] < MIN_TERRAFORM:
        raise TerraformError(f"terraform {info.text} is too old; need >= {dotted(MIN_TERRAFORM)}")
    return info


def terraform_binary() -> str:
    """Path of a Terraform >= MIN_TERRAFORM on PATH."""
    return terraform_info().binary


def require_terraform(minimum: tuple[int, int], why: str) -> None:
    """Fail unless the Terraform on PATH is at least `minimum`, naming what needs it."""
    info = terraform_info()
    if info.version[:2] < minimum:
        raise TerraformError(f"{why} needs Terraform >= {dotted(minimum)}; {info.binary} is {info.text}")


@functools.cache
def provider_version(modules_dir: Path = MODULES_DIR) -> str:
    """The hashicorp/aws version the stacks pin: the `PROVIDER_VERSION` constant in `modules/`.

    Read from the source rather than imported, because importing the cdktf seam starts jsii and loads
    the AWS bindings (seconds), and this runs before anything slow.
    """
    found: dict[str, str] = {}
    for path in sorted(modules_dir.glob("*.py")):
        for node in ast.parse(path.read_text(), str(path)).body:
            target = node.target if isinstance(node, ast.AnnAssign) else None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
            value = getattr(node, "value", None)
            if isinstance(target, ast.Name) and target.id == "PROVIDER_VERSION" and isinstance(value, ast.Constant):
                found[path.name] = str(value.value)
    if len(set(found.values())) != 1:
        where = ", ".join(f"{name}: {value}" for name, value in found.items()) or "none"
        raise TerraformError(f"expected one PROVIDER_VERSION = '<version>' in {modules_dir}; found {where}")
    return next(iter(found.values()))


# --- Where the provider comes from ------------------------------------------------------------------


class SourceKind(enum.Enum):
    """How `terraform init` gets the provider."""

    RELAY_MIRROR = "the mirror RELAY_TF_MIRROR names"
    USER_CONFIG = "the user's Terraform CLI configuration"
    IMPLIED_MIRROR = "a local mirror directory Terraform searches by itself"
    REGISTRY = "the registry"
    PLUGIN_CACHE = "relay's plugin cache, used as a mirror"


@dataclass(frozen=True)
class ProviderSource:
    """Where Terraform will install the provider from, and how relay must configure Terraform for it."""

    kind: SourceKind
    where: str
    mirror: Path | None = None
    """The filesystem mirror relay's own CLI configuration names (RELAY_MIRROR and PLUGIN_CACHE)."""
    needs_registry: bool = False
    """Whether installing asks the registry (only then can `terraform providers lock` run)."""

    def describe(self) -> str:
        return f"{self.kind.value}: {self.where}"


@dataclass(frozen=True)
class InstallMethod:
    """One method of a `provider_installation` block."""

    kind: str
    """`direct`, `filesystem_mirror` or `network_mirror`."""
    location: str = ""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def handles(self, provider: tuple[str, str, str] = PROVIDER) -> bool:
        """Whether the method's include/exclude patterns admit `provider` (exclusions win, as in Terraform)."""
        if matches(self.exclude, provider):
            return False
        return not self.include or matches(self.include, provider)


class ProviderUnavailable(TerraformError):
    """No source can give Terraform the provider on this machine."""


def matches(patterns: Iterable[str], provider: tuple[str, str, str] = PROVIDER) -> bool:
    """Whether a provider address matches one of Terraform's `[host/]namespace/type` patterns (`*` wildcards)."""
    for pattern in patterns:
        parts = pattern.lower().split("/")
        if len(parts) == 2:
            parts = [REGISTRY, *parts]
        if len(parts) != 3:
            raise TerraformError(f"invalid provider pattern {pattern!r}: expected [hostname/]namespace/type")
        if all(part in ("*", actual) for part, actual in zip(parts, provider, strict=True)):
            return True
    return False


def package_paths(mirror: Path, version: str, platform: str) -> tuple[Path, Path]:
    """The unpacked directory and the packed zip of the provider in a filesystem mirror (either will do)."""
    base = mirror.joinpath(*PROVIDER)
    return base / version / platform, base / f"terraform-provider-{PROVIDER[2]}_{version}_{platform}.zip"


def mirror_holds(mirror: Path, version: str, platform: str) -> bool:
    """Whether a mirror (or the plugin cache, which has the unpacked layout) holds this provider package.

    The executable is looked for, not just its folder: the cache links to the mirror it was filled
    from, and such a link dangles once that mirror is gone.
    """
    unpacked, packed = package_paths(mirror, version, platform)
    return packed.is_file() or any(p.is_file() for p in unpacked.glob(f"terraform-provider-{PROVIDER[2]}*"))


def mirror_has_any_version(mirror: Path) -> bool:
    """Whether a directory holds some version of the provider (Terraform then never asks the registry)."""
    base = mirror.joinpath(*PROVIDER)
    return base.is_dir() and any(base.iterdir())


def home_dir(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or Path.home())


def user_config_files(environ: Mapping[str, str], os_name: str) -> tuple[list[Path], str]:
    """The CLI configuration files Terraform reads for this environment, and a note of where it looked.

    `TF_CLI_CONFIG_FILE` (or the older `TERRAFORM_CONFIG`) replaces every default location; a file it
    names that does not exist means no configuration at all, as for Terraform.
    """
    override = environ.get("TF_CLI_CONFIG_FILE") or environ.get("TERRAFORM_CONFIG")
    if override:
        path = Path(override).expanduser()
        name = "TF_CLI_CONFIG_FILE" if environ.get("TF_CLI_CONFIG_FILE") else "TERRAFORM_CONFIG"
        if not path.is_file():
            return [], f"{name}={override} does not exist"
        # A shell set up with `relay terraform env` names relay's own file, which relay rewrites anyway.
        if path.resolve() == paths.terraformrc(environ).resolve():
            return [], f"{name}={override} is relay's own"
        return [path], f"read {name}={override}"
    if os_name == "windows":
        base = Path(environ.get("APPDATA") or home_dir(environ))
        main, config_dir = base / "terraform.rc", base / "terraform.d"
    else:
        main, config_dir = home_dir(environ) / ".terraformrc", home_dir(environ) / ".terraform.d"
    files = [main] if main.is_file() else []
    if config_dir.is_dir():
        files += sorted(p for p in config_dir.iterdir() if p.name.endswith((".tfrc", ".tfrc.json")) and p.is_file())
    return files, f"read {main} and {config_dir}/*.tfrc"


def implied_mirror_dirs(environ: Mapping[str, str], os_name: str) -> list[Path]:
    """The local mirror directories Terraform searches when no `provider_installation` block is configured."""
    home = home_dir(environ)
    if os_name == "windows":
        appdata = Path(environ.get("APPDATA") or home)
        return [appdata / "terraform.d" / "plugins", appdata / "HashiCorp" / "Terraform" / "plugins"]
    dirs = [home / ".terraform.d" / "plugins"]
    if os_name == "darwin":
        support = Path("Library", "Application Support", "io.terraform", "plugins")
        return [*dirs, home / support, Path("/") / support]
    # XDG base directories; relative entries are invalid there and ignored.
    data_home = environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    data_dirs = (environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":")
    dirs += [Path(d) / "terraform" / "plugins" for d in [data_home, *data_dirs] if Path(d).is_absolute()]
    return dirs


def find_provider_source(
    environ: Mapping[str, str],
    probe: Probe,
    *,
    version: str,
    platform: str,
    cache_dir: Path,
) -> ProviderSource:
    """Decide where `terraform init` will install the provider from, or raise ProviderUnavailable.

    Pure apart from reading the file system and calling `probe` (only when the answer depends on the
    network): the order is the module's (RELAY_TF_MIRROR, the user's configuration, the implied local
    mirrors, the registry, the plugin cache).
    """
    os_name = platform.split("_")[0]
    found: list[str] = []

    mirror = environ.get("RELAY_TF_MIRROR")
    if mirror:
        path = Path(mirror).expanduser()
        if mirror_holds(path, version, platform):
            return ProviderSource(SourceKind.RELAY_MIRROR, f"RELAY_TF_MIRROR={mirror}", mirror=path)
        unpacked, packed = package_paths(path, version, platform)
        raise ProviderUnavailable(
            unavailable(version, platform, [f"RELAY_TF_MIRROR={mirror} holds neither {unpacked}/ nor {packed}"])
        )
    found.append("RELAY_TF_MIRROR is not set")

    files, looked = user_config_files(environ, os_name)
    configured = provider_installation(files)
    if configured:
        origin, methods = configured
        return user_config_source(origin, methods, probe, version, platform)
    found.append(f"no provider_installation block in Terraform's CLI configuration: {looked}")

    implied = implied_mirror_dirs(environ, os_name)
    for directory in implied:
        if mirror_holds(directory, version, platform):
            return ProviderSource(SourceKind.IMPLIED_MIRROR, str(directory))
    partial = [d for d in implied if mirror_has_any_version(d)]
    if partial:
        found.append(
            f"{partial[0]} holds other versions of {'/'.join(PROVIDER)} but not {version}, and then Terraform "
            "does not ask the registry for it"
        )
        raise ProviderUnavailable(unavailable(version, platform, found))
    found.append(f"no local mirror directory holds it ({', '.join(map(str, implied))})")

    try:
        probe(REGISTRY, 443)
    except OSError as error:
        found.append(f"{REGISTRY}:443 is unreachable ({reason(error)})")
    else:
        return ProviderSource(SourceKind.REGISTRY, REGISTRY, needs_registry=True)

    if mirror_holds(cache_dir, version, platform):
        return ProviderSource(SourceKind.PLUGIN_CACHE, str(cache_dir), mirror=cache_dir)
    found.append(f"relay's plugin cache {cache_dir} does not hold it")
    raise ProviderUnavailable(unavailable(version, platform, found))


def user_config_source(
    origin: Path, methods: list[InstallMethod], probe: Probe, version: str, platform: str
) -> ProviderSource:
    """Judge a user's `provider_installation` block as Terraform applies it.

    Terraform asks every method that admits the provider for its versions and stops at the first that
    cannot answer, so a registry or network mirror that is out of reach fails the install even when a
    filesystem mirror of the same block holds the provider.
    """
    applicable = [m for m in methods if m.handles()]
    holders: list[str] = []
    problems: list[str] = []
    needs_registry = False
    for method in applicable:
        if method.kind == "filesystem_mirror":
            if mirror_holds(Path(method.location), version, platform):
                holders.append(f"filesystem_mirror {method.location}")
            continue
        url = urlparse(method.location) if method.kind == "network_mirror" else None
        host, port = (url.hostname or "", url.port or 443) if url else (REGISTRY, 443)
        try:
            probe(host, port)
        except OSError as error:
            problems.append(f"its {method.kind} {host}:{port} is unreachable ({reason(error)})")
        else:
            holders.append(f"{method.kind} {host}")
            needs_registry = needs_registry or method.kind == "direct"
    if holders and not problems:
        return ProviderSource(SourceKind.USER_CONFIG, f"{origin} ({', '.join(holders)})", needs_registry=needs_registry)
    if not applicable:
        problems.append(f"no method admits {'/'.join(PROVIDER)}")
    elif not holders:
        problems.append("no filesystem_mirror of it holds the provider")
    elif problems:
        problems.append(
            f"Terraform asks every method that admits the provider, so {holders[0]} alone does not help: "
            "exclude the provider from the unreachable method"
        )
    raise ProviderUnavailable(
        unavailable(version, platform, [f"the provider_installation block of {origin}: {'; '.join(problems)}"])
    )


def unavailable(version: str, platform: str, found: list[str]) -> str:
    """The one message for a machine where Terraform cannot install the provider: what was found, what to do."""
    return "\n".join(
        [
            f"Terraform cannot install the provider {'/'.join(PROVIDER[1:])} {version} ({platform}) on this machine:",
            *(f"  - {line}" for line in found),
            "Give Terraform a provider mirror, either:",
            "  - export RELAY_TF_MIRROR=/path/to/mirror, a directory holding "
            f"{'/'.join(PROVIDER)}/{version}/{platform}/",
            "    (fill one on a connected machine: `terraform providers mirror DIR` in cdktf.out/stacks/<stack>), or",
            "  - a provider_installation block with a filesystem_mirror or network_mirror in Terraform's own",
            "    CLI configuration (~/.terraformrc, or the file TF_CLI_CONFIG_FILE names).",
            f"See {README_SECTION}.",
        ]
    )


def reason(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return f"DNS lookup failed: {error.strerror}"
    return str(error) or type(error).__name__


def probe(host: str, port: int = 443, *, timeout: float = PROBE_TIMEOUT) -> None:
    """Open a TLS connection to host:port (through HTTPS_PROXY when one applies); raise OSError if it fails.

    The attempt runs in a daemon thread, so a resolver that hangs cannot hold the caller past `timeout`.
    """
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            connect(host, port, timeout)
        except OSError as error:
            outcome.append(error)
        else:
            outcome.append(None)

    thread = threading.Thread(target=attempt, name=f"probe {host}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise TimeoutError(f"no answer within {timeout:g} s")
    if outcome[0] is not None:
        raise outcome[0]


def connect(host: str, port: int, timeout: float) -> None:
    proxy = urllib.request.getproxies_environment().get("https")
    if proxy and not urllib.request.proxy_bypass_environment(host):
        address = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        sock = socket.create_connection((address.hostname or "", address.port or 80), timeout=timeout)
        sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        status = sock.recv(4096).split(b"\r\n", 1)[0]
        if status.split()[1:2] != [b"200"]:
            sock.close()
            raise ConnectionRefusedError(f"proxy {address.hostname} answered {status.decode(errors='replace')!r}")
    else:
        sock = socket.create_connection((host, port), timeout=timeout)
    # Reachability only: Terraform verifies the registry's certificate itself when it connects.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with sock, context.wrap_socket(sock, server_hostname=host):
        pass


@functools.cache
def preflight() -> ProviderSource:
    """Terraform's version and where its provider comes from, checked once per process (seconds at most)."""
    return find_provider_source(
        os.environ,
        probe,
        version=provider_version(),
        platform=terraform_info().platform,
        cache_dir=paths.plugin_cache_dir(),
    )


# --- Terraform CLI configuration files (a small reader for the part relay needs) --------------------

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?\*/)
      | (?P<string>"(?:[^"\\\n]|\\.)*")
      | (?P<heredoc><<-?(?P<tag>\w+)\n.*?\n[ \t]*(?P=tag)[ \t]*(?=\n|$))
      | (?P<punct>[{}\[\]=,])
      | (?P<word>[^\s{}\[\]=,"\#]+)""",
    re.S | re.X,
)

Item = tuple[str, tuple[str, ...], Any]
"""One entry of a configuration body: key, block labels, and a value (a nested body for blocks and objects)."""


def parse_cli_config(text: str, origin: str = "<text>") -> list[Item]:
    """Parse a Terraform CLI configuration (HCL, or JSON for `.json` files) into items."""
    if text.lstrip().startswith("{"):
        try:
            return _json_items(json.loads(text))
        except ValueError as error:
            raise TerraformError(f"cannot read {origin}: {error}") from error
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            line = text.count("\n", 0, position) + 1
            raise TerraformError(f"cannot read {origin}: unexpected text at line {line}")
        position = match.end()
        kind = match.lastgroup if match.lastgroup != "tag" else "heredoc"
        if kind not in ("space", "comment"):
            tokens.append((kind or "", match[0]))
    return _Parser(tokens, origin).body(closing=None)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], origin: str):
        self.tokens = tokens
        self.origin = origin
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise TerraformError(f"cannot read {self.origin}: it ends in the middle of a block")
        self.index += 1
        return token

    def body(self, closing: str | None) -> list[Item]:
        items: list[Item] = []
        while (token := self.peek()) is not None and token != ("punct", closing):
            if token == ("punct", ","):
                self.index += 1
                continue
            key = self.scalar(self.take())
            labels: list[str] = []
            while (token := self.peek()) and token[0] == "string":
                labels.append(self.scalar(self.take()))
            token = self.take()
            if token == ("punct", "="):
                items.append((key, (), self.value()))
            elif token == ("punct", "{"):
                items.append((key, tuple(labels), self.body("}")))
            else:
                raise TerraformError(f"cannot read {self.origin}: expected '=' or '{{' after {key!r}")
        if closing:
            self.take()
        return items

    def value(self) -> Any:
        token = self.take()
        if token == ("punct", "{"):
            return self.body("}")
        if token == ("punct", "["):
            values = []
            while (token := self.peek()) != ("punct", "]"):
                if token == ("punct", ","):
                    self.index += 1
                else:
                    values.append(self.value())
            self.take()
            return values
        return self.scalar(token)

    def scalar(self, token: tuple[str, str]) -> Any:
        kind, text = token
        if kind == "string":
            try:
                return json.loads(text)
            except ValueError:
                return text[1:-1]
        if kind == "heredoc":
            return text.split("\n", 1)[1].rsplit("\n", 1)[0]
        if kind == "word":
            return {"true": True, "false": False}.get(text, text)
        raise TerraformError(f"cannot read {self.origin}: unexpected {text!r}")


def _json_items(document: Any) -> list[Item]:
    items: list[Item] = []
    for key, value in (document or {}).items():
        for entry in value if isinstance(value, list) and all(isinstance(v, dict) for v in value) else [value]:
            items.append((key, (), _json_items(entry) if isinstance(entry, dict) else entry))
    return items


def installation_methods(items: list[Item], origin: str) -> list[InstallMethod] | None:
    """The methods of the `provider_installation` block, or None when there is none."""
    blocks = [value for key, _, value in items if key == "provider_installation"]
    if not blocks:
        return None
    if not isinstance(blocks[0], list):
        raise TerraformError(f"{origin}: provider_installation must be a block")
    methods: list[InstallMethod] = []
    for kind, _, body in blocks[0]:
        if kind == "dev_overrides":
            continue
        if kind not in ("direct", "filesystem_mirror", "network_mirror") or not isinstance(body, list):
            raise TerraformError(
                f"{origin}: unknown provider installation method {kind!r}; "
                "allowed: direct, filesystem_mirror, network_mirror, dev_overrides"
            )
        attributes = {key: value for key, _, value in body}
        location = ""
        if kind != "direct":
            name = "path" if kind == "filesystem_mirror" else "url"
            location = attributes.get(name)
            if not location or not isinstance(location, str):
                raise TerraformError(f'{origin}: {kind} needs {name} = "..."')
        include, exclude = attributes.get("include") or [], attributes.get("exclude") or []
        methods.append(InstallMethod(kind, location, tuple(include), tuple(exclude)))
    return methods


def provider_installation(files: list[Path]) -> tuple[Path, list[InstallMethod]] | None:
    """The one `provider_installation` block of these files (Terraform allows one in all of them)."""
    found: list[tuple[Path, list[InstallMethod]]] = []
    for path in files:
        try:
            text = path.read_text()
        except OSError as error:
            raise TerraformError(f"cannot read Terraform's CLI configuration {path}: {error}") from error
        methods = installation_methods(parse_cli_config(text, str(path)), str(path))
        if methods is not None:
            found.append((path, methods))
    if len(found) > 1:
        raise TerraformError(
            f"more than one provider_installation block ({', '.join(str(p) for p, _ in found)}); Terraform allows one"
        )
    return found[0] if found else None


# --- Running Terraform ------------------------------------------------------------------------------


def cli_config(mirror: str | Path | None = None) -> Path:
    """Write relay's Terraform CLI configuration and return its path.

    It always sets the shared plugin cache, except when the mirror is that cache: Terraform cannot use
    one directory as both. With `mirror`, hashicorp providers come only from that filesystem mirror.
    """
    cache = paths.plugin_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    lines = []
    if mirror is None or Path(mirror).resolve() != cache.resolve():
        lines.append(f'plugin_cache_dir = "{cache}"')
    if mirror:
        if not (Path(mirror) / REGISTRY).is_dir():
            raise TerraformError(f"{mirror} is not a provider mirror: expected {mirror}/{REGISTRY}/")
        lines += [
            "provider_installation {",
            "  filesystem_mirror {",
            f'    path    = "{mirror}"',
            f'    include = ["{REGISTRY}/hashicorp/*"]',
            "  }",
            f'  direct {{ exclude = ["{REGISTRY}/hashicorp/*"] }}',
            "}",
        ]
    path = paths.terraformrc()
    text = "\n".join(lines) + "\n"
    # Processes running side by side write the same text; rewriting it under them would race.
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


def plugin_cache_warm() -> bool:
    """Whether the shared plugin cache already holds a provider (concurrent inits are then safe)."""
    return any(paths.plugin_cache_dir().glob("*/*/*/*/*"))


@contextlib.contextmanager
def _init_lock() -> Iterator[None]:
    """One `terraform init` at a time, across threads and processes (suites running side by side):
    two inits filling an empty plugin cache at once collide ("file exists")."""
    lock_file = paths.state_root() / "plugin-cache.lock"
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with _INIT_LOCK, lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def warm_plugin_cache(env: dict[str, str]) -> None:
    """Fill the shared plugin cache with the provider once, so that inits Terraform runs side by side
    (cdktf deploys stacks in parallel) only read it."""
    if plugin_cache_warm():
        return
    with _init_lock():
        if plugin_cache_warm():
            return
        with tempfile.TemporaryDirectory(dir=paths.state_root(), prefix="plugin-cache-") as work:
            config = {
                "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": provider_version()}}}
            }
            (Path(work) / "main.tf.json").write_text(json.dumps(config))
            result = run(Path(work), "init", "-input=false", "-no-color", "-backend=false", env=env)
    if result.returncode:
        raise TerraformError(f"terraform init could not fill the plugin cache:\n{result.stderr or result.stdout}")


def environment(source: ProviderSource | None = None) -> dict[str, str]:
    """Process environment for Terraform: the CLI configuration `source` needs, no telemetry, no prompts.

    Without `source`, runs the preflight (once per process), so an unfit machine fails here, in seconds.
    """
    source = source or preflight()
    env = dict(os.environ)
    cache = paths.plugin_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    if source.kind is not SourceKind.USER_CONFIG:
        env["TF_CLI_CONFIG_FILE"] = str(cli_config(source.mirror))
    if source.kind is SourceKind.PLUGIN_CACHE:
        env.pop("TF_PLUGIN_CACHE_DIR", None)
    else:
        env["TF_PLUGIN_CACHE_DIR"] = str(cache)
        # By default an init whose stack has no lock file yet installs from the source and rewrites the
        # cache entry, under the feet of inits running beside it (suites and stacks run in parallel):
        # "no package ... cached in .terraform/providers". With this, a filled cache is only read.
        # The stacks' lock files live in cdktf.out, never committed.
        env["TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE"] = "1"
    env.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0")
    return env


def stack_dirs(names: list[str] | None = None, stacks_dir: Path = paths.STACKS_DIR) -> list[Path]:
    """Synthesized stack directories, all or the named ones."""
    if not stacks_dir.is_dir():
        raise TerraformError(f"{stacks_dir} does not exist; synthesize first (python main.py or cdktf synth)")
    available = sorted(p for p in stacks_dir.iterdir() if (p / "cdk.tf.json").is_file())
    if not names:
        return available
    by_name = {p.name: p for p in available}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise TerraformError(f"unknown stack(s) {', '.join(unknown)}; allowed: {', '.join(by_name)}")
    return [by_name[n] for n in names]


def uses_s3_lockfile(stack: Path) -> bool:
    """Whether a synthesized stack's S3 backend locks its state with `use_lockfile`."""
    try:
        document = json.loads((stack / "cdk.tf.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(document.get("terraform", {}).get("backend", {}).get("s3", {}).get("use_lockfile"))


def run(stack: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one terraform command in a stack directory, capturing output."""
    return subprocess.run([terraform_binary(), *args], cwd=stack, env=env, capture_output=True, text=True, check=False)


def init(stack: Path, env: dict[str, str], *, backend: bool = True) -> None:
    """`terraform init`, raising with Terraform's own message on failure."""
    args = ["init", "-input=false", "-no-color"]
    if not backend:
        args.append("-backend=false")
    elif uses_s3_lockfile(stack):
        require_terraform(S3_LOCKFILE_TERRAFORM, f"the S3 backend's use_lockfile in {stack.name}")
    with _init_lock():
        result = run(stack, *args, env=env)
    if result.returncode:
        raise TerraformError(f"terraform init failed in {stack.name}:\n{result.stderr or result.stdout}")


def validate(stack: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Offline init (no backend) and `terraform validate -json`."""
    init(stack, env, backend=False)
    return run(stack, "validate", "-json", "-no-color", env=env)


def shell_exports(source: ProviderSource, env: Mapping[str, str]) -> str:
    """Shell lines that set up Terraform by hand the way relay runs it."""
    names = ["TF_CLI_CONFIG_FILE"] if source.kind is not SourceKind.USER_CONFIG else []
    names += ["TF_PLUGIN_CACHE_DIR"] if source.kind is not SourceKind.PLUGIN_CACHE else []
    lines = [f"export {name}={shlex.quote(env[name])}" for name in names]
    if source.kind is SourceKind.PLUGIN_CACHE:
        lines.append("unset TF_PLUGIN_CACHE_DIR")
    return "\n".join([*lines, "export CHECKPOINT_DISABLE=1"])


def main(argv: list[str] | None = None, *, prog: str = "relay terraform") -> int:
    """`relay terraform`: exit 0 when every stack passed, 1 when one failed, 2 when Terraform cannot run."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run Terraform on the synthesized stacks (cdktf.out/stacks) with relay's CLI configuration.",
        epilog=f"Offline machines: set RELAY_TF_MIRROR to a provider mirror; see {README_SECTION}.",
    )
    parser.add_argument(
        "command",
        choices=["check", "validate", "plan", "env"],
        help="check: Terraform and where its provider comes from; validate: init without backend + validate; "
        "plan: init + plan; env: shell exports to run terraform by hand",
    )
    parser.add_argument("stacks", nargs="*", help="stack names (default: every synthesized stack)")
    options = parser.parse_args(argv)
    try:
        source = preflight()
        if options.command == "check":
            info = terraform_info()
            print(f"terraform {info.text} ({info.platform}) at {info.binary}")
            print(f"{'/'.join(PROVIDER[1:])} {provider_version()} from {source.describe()}")
            return 0
        env = environment(source)
        if options.command == "env":
            print(shell_exports(source, env))
            return 0
        failed = 0
        for stack in stack_dirs(options.stacks):
            if options.command == "validate":
                result = validate(stack, env)
            else:
                init(stack, env)
                result = run(stack, "plan", "-no-color", "-input=false", env=env)
            status = "ok" if result.returncode == 0 else "FAILED"
            print(f"{options.command} {stack.name}: {status}")
            if result.returncode:
                failed += 1
                print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
        return 1 if failed else 0
    except TerraformError as error:
        print(f"relay: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
