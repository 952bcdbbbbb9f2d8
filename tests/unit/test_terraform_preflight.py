"""Where Terraform gets its provider: the preflight's decision, the CLI configuration it reads and writes,
and the reachability probe. The decision runs on temporary directories and an environment mapping; the
network is a probe function (the real one is tested against sockets on this machine)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tools import terraform
from tools.terraform import SourceKind

VERSION = "5.100.0"
PLATFORM = "linux_amd64"


class Network:
    """The probe for the decision: these hosts answer, every other name fails its DNS lookup."""

    def __init__(self, *reachable: str):
        self.reachable = set(reachable)
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> None:
        self.asked.append((host, port))
        if host not in self.reachable:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


OFFLINE = Network()
ONLINE = Network(terraform.REGISTRY)


def put_provider(mirror: Path, version: str = VERSION, *, packed: bool = False) -> Path:
    """Lay a provider package into a mirror in Terraform's unpacked (or packed) layout."""
    unpacked, zipped = terraform.package_paths(mirror, version, PLATFORM)
    if packed:
        zipped.parent.mkdir(parents=True, exist_ok=True)
        zipped.write_bytes(b"PK\x05\x06" + bytes(18))
        return zipped
    unpacked.mkdir(parents=True, exist_ok=True)
    binary = unpacked / f"terraform-provider-aws_v{version}_x5"
    binary.write_bytes(b"")
    return binary


@pytest.fixture
def machine(tmp_path):
    """A user's home, XDG folders and relay state under tmp_path; `env` is the process environment."""

    class Machine:
        home = tmp_path / "home"
        share = tmp_path / "share"
        cache = tmp_path / "state" / "plugin-cache"
        env = {
            "HOME": str(tmp_path / "home"),
            "XDG_DATA_DIRS": str(tmp_path / "share"),
            "RELAY_STATE_DIR": str(tmp_path / "state"),
        }

        def decide(self, probe=OFFLINE, **extra: str) -> terraform.ProviderSource:
            return terraform.find_provider_source(
                {**self.env, **extra}, probe, version=VERSION, platform=PLATFORM, cache_dir=self.cache
            )

        def rc(self, name: str, text: str) -> Path:
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return path

    Machine.home.mkdir()
    return Machine()


def mirror_rc(mirror: Path, direct: str = 'direct { exclude = ["registry.terraform.io/hashicorp/*"] }') -> str:
    return f"""
        # the user's own CLI configuration
        plugin_cache_dir = "$HOME/.terraform.d/plugin-cache"
        credentials "app.terraform.io" {{ token = "x.atlasv1.y" }}
        provider_installation {{
          filesystem_mirror {{
            path    = "{mirror}"
            include = ["hashicorp/*"]
          }}
          {direct}
        }}
    """


# --- RELAY_TF_MIRROR --------------------------------------------------------------------------------


def test_relay_mirror_is_used_without_asking_the_network(machine, tmp_path):
    put_provider(tmp_path / "mirror")
    network = Network()
    source = machine.decide(network, RELAY_TF_MIRROR=str(tmp_path / "mirror"))
    assert source.kind is SourceKind.RELAY_MIRROR
    assert source.mirror == tmp_path / "mirror" and not source.needs_registry
    assert network.asked == []


def test_relay_mirror_in_the_packed_layout_counts(machine, tmp_path):
    put_provider(tmp_path / "mirror", packed=True)
    assert machine.decide(RELAY_TF_MIRROR=str(tmp_path / "mirror")).kind is SourceKind.RELAY_MIRROR


def test_relay_mirror_without_the_pinned_version_is_refused_naming_the_expected_path(machine, tmp_path):
    put_provider(tmp_path / "mirror", "5.99.0")
    with pytest.raises(terraform.ProviderUnavailable) as raised:
        machine.decide(ONLINE, RELAY_TF_MIRROR=str(tmp_path / "mirror"))
    message = str(raised.value)
    assert f"RELAY_TF_MIRROR={tmp_path / 'mirror'} holds neither" in message
    assert f"registry.terraform.io/hashicorp/aws/{VERSION}/{PLATFORM}" in message


# --- nothing at all: the one message -----------------------------------------------------------------


def test_offline_without_any_mirror_fails_with_one_message_naming_the_way_out(machine):
    with pytest.raises(terraform.ProviderUnavailable) as raised:
        machine.decide(OFFLINE, TF_CLI_CONFIG_FILE=str(machine.home / ".terraformrc"))
    message = str(raised.value)
    assert message.startswith(f"Terraform cannot install the provider hashicorp/aws {VERSION} ({PLATFORM})")
    assert "RELAY_TF_MIRROR is not set" in message
    assert f"TF_CLI_CONFIG_FILE={machine.home / '.terraformrc'} does not exist" in message
    assert "registry.terraform.io:443 is unreachable (DNS lookup failed: Name or service not known)" in message
    assert f"plugin cache {machine.cache} does not hold it" in message
    assert "export RELAY_TF_MIRROR=/path/to/mirror" in message
    assert 'README.md, section "Terraform by hand and offline"' in message
    assert "provider_installation" in message and "TF_CLI_CONFIG_FILE" in message


def test_a_tf_cli_config_file_that_does_not_exist_is_no_configuration(machine):
    source = machine.decide(ONLINE, TF_CLI_CONFIG_FILE="/nonexistent/terraformrc")
    assert source.kind is SourceKind.REGISTRY and source.needs_registry


# --- the user's own CLI configuration ---------------------------------------------------------------


def test_a_user_config_with_a_mirror_is_used_as_it_is(machine, tmp_path):
    put_provider(tmp_path / "user-mirror")
    rc = machine.rc("user.tfrc", mirror_rc(tmp_path / "user-mirror"))
    network = Network()
    source = machine.decide(network, TF_CLI_CONFIG_FILE=str(rc))
    assert source.kind is SourceKind.USER_CONFIG and source.mirror is None
    assert str(rc) in source.where and "filesystem_mirror" in source.where
    assert network.asked == [] and not source.needs_registry


def test_the_default_locations_are_read_when_tf_cli_config_file_is_unset(machine, tmp_path):
    put_provider(tmp_path / "user-mirror")
    machine.rc("home/.terraformrc", 'plugin_cache_dir = "/somewhere"\n')
    machine.rc("home/.terraform.d/mirror.tfrc", mirror_rc(tmp_path / "user-mirror"))
    source = machine.decide()
    assert source.kind is SourceKind.USER_CONFIG
    assert "mirror.tfrc" in source.where


def test_a_json_tfrc_file_is_read(machine, tmp_path):
    put_provider(tmp_path / "user-mirror")
    block = {"filesystem_mirror": {"path": str(tmp_path / "user-mirror")}}
    machine.rc("home/.terraform.d/mirror.tfrc.json", json.dumps({"provider_installation": block}))
    assert machine.decide().kind is SourceKind.USER_CONFIG


def test_tf_cli_config_file_hides_the_config_directory_as_in_terraform(machine, tmp_path):
    put_provider(tmp_path / "user-mirror")
    machine.rc("home/.terraform.d/mirror.tfrc", mirror_rc(tmp_path / "user-mirror"))
    rc = machine.rc("plain.tfrc", "disable_checkpoint = true\n")
    assert machine.decide(ONLINE, TF_CLI_CONFIG_FILE=str(rc)).kind is SourceKind.REGISTRY


def test_relays_own_file_named_by_tf_cli_config_file_is_not_the_users(machine, tmp_path):
    put_provider(tmp_path / "mirror")
    own = machine.rc("state/terraformrc", mirror_rc(tmp_path / "mirror"))
    assert machine.decide(ONLINE, TF_CLI_CONFIG_FILE=str(own)).kind is SourceKind.REGISTRY


def test_an_unreachable_direct_method_fails_the_user_config_even_with_a_mirror(machine, tmp_path):
    put_provider(tmp_path / "user-mirror")
    rc = machine.rc("user.tfrc", mirror_rc(tmp_path / "user-mirror", direct="direct {}"))
    with pytest.raises(terraform.ProviderUnavailable) as raised:
        machine.decide(OFFLINE, TF_CLI_CONFIG_FILE=str(rc))
    message = str(raised.value)
    assert f"the provider_installation block of {rc}: its direct registry.terraform.io:443 is unreachable" in message
    assert "exclude the provider from the unreachable method" in message
    assert machine.decide(ONLINE, TF_CLI_CONFIG_FILE=str(rc)).needs_registry


def test_a_reachable_network_mirror_serves_the_user_config(machine):
    rc = machine.rc("user.tfrc", 'provider_installation { network_mirror { url = "https://tf.example.com:8443/p/" } }')
    network = Network("tf.example.com")
    source = machine.decide(network, TF_CLI_CONFIG_FILE=str(rc))
    assert source.kind is SourceKind.USER_CONFIG and not source.needs_registry
    assert network.asked == [("tf.example.com", 8443)]


def test_a_user_config_that_admits_the_provider_nowhere_fails(machine, tmp_path):
    put_provider(tmp_path / "user-mirror")
    rc = machine.rc(
        "user.tfrc",
        f"""provider_installation {{
              filesystem_mirror {{
                path    = "{tmp_path / "user-mirror"}"
                include = ["example.com/*/*"]
              }}
              direct {{ exclude = ["hashicorp/aws"] }}
            }}""",
    )
    with pytest.raises(terraform.ProviderUnavailable, match=r"no method admits registry\.terraform\.io/hashicorp/aws"):
        machine.decide(ONLINE, TF_CLI_CONFIG_FILE=str(rc))


def test_two_provider_installation_blocks_are_refused_as_terraform_does(machine, tmp_path):
    machine.rc("home/.terraformrc", mirror_rc(tmp_path / "a"))
    machine.rc("home/.terraform.d/more.tfrc", mirror_rc(tmp_path / "b"))
    with pytest.raises(terraform.TerraformError, match="more than one provider_installation block"):
        machine.decide()


# --- the local mirror directories Terraform searches by itself ---------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        "home/.terraform.d/plugins",
        "home/.local/share/terraform/plugins",
        "share/terraform/plugins",
        "data-home/terraform/plugins",
    ],
)
def test_an_implied_local_mirror_is_used_offline(machine, tmp_path, where):
    put_provider(tmp_path / where)
    extra = {"XDG_DATA_HOME": str(tmp_path / "data-home")} if where.startswith("data-home") else {}
    source = machine.decide(OFFLINE, **extra)
    assert source.kind is SourceKind.IMPLIED_MIRROR
    assert source.where == str(tmp_path / where) and source.mirror is None


def test_an_implied_mirror_with_only_another_version_stops_before_the_registry(machine):
    put_provider(machine.home / ".terraform.d" / "plugins", "5.99.0")
    network = Network(terraform.REGISTRY)
    with pytest.raises(
        terraform.ProviderUnavailable, match=r"holds other versions of registry\.terraform\.io/hashicorp/aws"
    ):
        machine.decide(network)
    assert network.asked == []


def test_implied_directories_of_other_systems():
    env = {"HOME": "/Users/u", "APPDATA": "C:/Users/u/AppData/Roaming"}
    assert Path("/Users/u/Library/Application Support/io.terraform/plugins") in terraform.implied_mirror_dirs(
        env, "darwin"
    )
    assert terraform.implied_mirror_dirs(env, "windows")[0] == Path("C:/Users/u/AppData/Roaming/terraform.d/plugins")


# --- the registry, then relay's plugin cache ----------------------------------------------------------


def test_the_registry_is_used_when_it_answers_and_nothing_is_local(machine):
    network = Network(terraform.REGISTRY)
    source = machine.decide(network)
    assert source.kind is SourceKind.REGISTRY
    assert network.asked == [(terraform.REGISTRY, 443)]


def test_the_plugin_cache_serves_offline_reruns_as_a_mirror(machine):
    put_provider(machine.cache)
    source = machine.decide(OFFLINE)
    assert source.kind is SourceKind.PLUGIN_CACHE and source.mirror == machine.cache
    assert machine.decide(ONLINE).kind is SourceKind.REGISTRY


def test_a_cache_entry_linking_to_a_mirror_that_is_gone_does_not_count(machine, tmp_path):
    put_provider(tmp_path / "gone")
    unpacked, _ = terraform.package_paths(machine.cache, VERSION, PLATFORM)
    unpacked.parent.mkdir(parents=True)
    unpacked.symlink_to(terraform.package_paths(tmp_path / "gone", VERSION, PLATFORM)[0])
    assert machine.decide(OFFLINE).kind is SourceKind.PLUGIN_CACHE
    shutil.rmtree(tmp_path / "gone")
    with pytest.raises(terraform.ProviderUnavailable):
        machine.decide(OFFLINE)


# --- the CLI configuration reader ---------------------------------------------------------------------


def test_the_cli_config_reader_takes_comments_labels_objects_lists_and_heredocs():
    items = terraform.parse_cli_config(
        """
        /* block comment { */
        disable_checkpoint = true   // trailing
        host "example.com" {
          services = { "modules.v1" = "https://example.com/m/", }
        }
        credentials_helper "x" { args = ["--a", "b\\"c"] }
        note = <<EOT
        {not a block}
        EOT
        """
    )
    assert items[0] == ("disable_checkpoint", (), True)
    assert items[1] == ("host", ("example.com",), [("services", (), [("modules.v1", (), "https://example.com/m/")])])
    assert items[2] == ("credentials_helper", ("x",), [("args", (), ["--a", 'b"c'])])
    assert items[3][0] == "note" and "{not a block}" in items[3][2]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("provider_installation {\n  direct {\n", "ends in the middle of a block"),
        ('a = "unterminated\n', "unexpected text at line 1"),
        ("provider_installation { mirror {} }", "unknown provider installation method 'mirror'"),
        ("provider_installation { filesystem_mirror { include = [] } }", "filesystem_mirror needs path"),
    ],
)
def test_an_unreadable_cli_config_is_an_error_naming_the_file(tmp_path, text, error):
    rc = tmp_path / "bad.tfrc"
    rc.write_text(text)
    with pytest.raises(terraform.TerraformError, match=error) as raised:
        terraform.provider_installation([rc])
    assert str(rc) in str(raised.value)


@pytest.mark.parametrize(
    ("patterns", "admitted"),
    [
        (["hashicorp/aws"], True),
        (["registry.terraform.io/hashicorp/*"], True),
        (["*/*"], True),
        (["*/*/*"], True),
        (["HashiCorp/AWS"], True),
        (["hashicorp/google"], False),
        (["example.com/hashicorp/aws"], False),
        ([], False),
    ],
)
def test_provider_patterns_match_as_terraform_matches_them(patterns, admitted):
    assert terraform.matches(patterns) is admitted


def test_an_invalid_provider_pattern_is_an_error():
    with pytest.raises(terraform.TerraformError, match="invalid provider pattern 'aws'"):
        terraform.matches(["aws"])


# --- Terraform's version, the pinned provider version ------------------------------------------------


def test_terraform_version_json_is_read_as_json():
    info = terraform.parse_version(
        "/bin/terraform", '{"terraform_version": "1.12.0-beta1", "platform": "darwin_arm64", "provider_selections": {}}'
    )
    assert info.version == (1, 12, 0) and info.text == "1.12.0-beta1" and info.platform == "darwin_arm64"
    with pytest.raises(terraform.TerraformError, match="did not answer `terraform version -json`"):
        terraform.parse_version("/bin/terraform", "Terraform v0.12.31\n")


def test_terraform_on_path_is_asked_once_per_process():
    terraform.terraform_info.cache_clear()
    first = terraform.terraform_info()
    assert terraform.terraform_info() is first
    assert terraform.terraform_info.cache_info().misses == 1
    assert first.version[:2] >= terraform.MIN_TERRAFORM


def test_the_provider_version_is_the_one_constant_in_modules(tmp_path):
    assert terraform.provider_version()[0].isdigit()
    one, two = tmp_path / "one", tmp_path / "two"
    for modules in (one, two):
        modules.mkdir()
        (modules / "seam.py").write_text('import x\nPROVIDER_VERSION = "5.100.0"\n"""doc"""\n')
        (modules / "other.py").write_text("VALUE = 1\n")
    assert terraform.provider_version(one) == "5.100.0"
    (two / "stale.py").write_text('PROVIDER_VERSION: str = "5.99.0"\n')
    with pytest.raises(terraform.TerraformError, match=r"found seam\.py: 5\.100\.0, stale\.py: 5\.99\.0"):
        terraform.provider_version(two)


def test_the_s3_lockfile_needs_terraform_1_10(tmp_path):
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "cdk.tf.json").write_text(json.dumps({"terraform": {"backend": {"s3": {"use_lockfile": True}}}}))
    assert terraform.uses_s3_lockfile(stack)
    (stack / "cdk.tf.json").write_text(json.dumps({"terraform": {"backend": {"local": {"path": "x"}}}}))
    assert not terraform.uses_s3_lockfile(stack)


# --- what relay hands Terraform -----------------------------------------------------------------------


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RELAY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TF_PLUGIN_CACHE_DIR", "/users/own/cache")
    return tmp_path / "state"


def test_relays_config_names_the_mirror_and_the_cache(state, tmp_path):
    put_provider(tmp_path / "mirror")
    source = terraform.ProviderSource(SourceKind.RELAY_MIRROR, "m", mirror=tmp_path / "mirror")
    env = terraform.environment(source)
    text = Path(env["TF_CLI_CONFIG_FILE"]).read_text()
    assert env["TF_CLI_CONFIG_FILE"] == str(state / "terraformrc")
    assert f'plugin_cache_dir = "{state / "plugin-cache"}"' in text
    assert f'path    = "{tmp_path / "mirror"}"' in text
    assert env["TF_PLUGIN_CACHE_DIR"] == str(state / "plugin-cache")


def test_the_cache_used_as_a_mirror_is_not_also_the_cache(state):
    cache = state / "plugin-cache"
    put_provider(cache)
    env = terraform.environment(terraform.ProviderSource(SourceKind.PLUGIN_CACHE, "c", mirror=cache))
    text = Path(env["TF_CLI_CONFIG_FILE"]).read_text()
    assert "plugin_cache_dir" not in text and f'path    = "{cache}"' in text
    assert "TF_PLUGIN_CACHE_DIR" not in env


def test_the_users_own_config_stays_in_charge(state, monkeypatch):
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/users/own.tfrc")
    env = terraform.environment(terraform.ProviderSource(SourceKind.USER_CONFIG, "u"))
    assert env["TF_CLI_CONFIG_FILE"] == "/users/own.tfrc"
    assert env["TF_PLUGIN_CACHE_DIR"] == str(state / "plugin-cache")
    assert not (state / "terraformrc").exists()


# --- the real probe -----------------------------------------------------------------------------------


@pytest.fixture
def no_proxy(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_probe_fails_for_a_name_that_never_resolves(no_proxy):
    with pytest.raises(OSError):
        terraform.probe("registry.invalid", 443, timeout=3)


def test_the_probe_fails_for_a_closed_port(no_proxy):
    with pytest.raises(ConnectionRefusedError):
        terraform.probe("127.0.0.1", free_port(), timeout=3)


def test_the_probe_gives_up_on_a_server_that_never_answers(no_proxy):
    with socket.create_server(("127.0.0.1", 0)) as silent:
        with pytest.raises(TimeoutError):
            terraform.probe("127.0.0.1", silent.getsockname()[1], timeout=0.5)


@pytest.fixture
def tls_context(tmp_path) -> ssl.SSLContext:
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a certificate for the local TLS server")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
    subprocess.run([*command, "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def serve_once(handle) -> tuple[int, threading.Thread]:
    server = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                handle(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return server.getsockname()[1], thread


def test_the_probe_completes_a_tls_handshake(no_proxy, tls_context):
    port, thread = serve_once(lambda conn: tls_context.wrap_socket(conn, server_side=True).close())
    terraform.probe("127.0.0.1", port, timeout=3)
    thread.join(3)


def test_the_probe_goes_through_the_https_proxy(monkeypatch, no_proxy, tls_context):
    requests: list[bytes] = []

    def proxy(conn: socket.socket) -> None:
        requests.append(conn.recv(4096))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        tls_context.wrap_socket(conn, server_side=True).close()

    port, thread = serve_once(proxy)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    terraform.probe("registry.example", 443, timeout=3)
    thread.join(3)
    assert requests[0].startswith(b"CONNECT registry.example:443 HTTP/1.1\r\n")


def test_a_proxy_that_refuses_the_tunnel_makes_the_probe_fail(monkeypatch, no_proxy):
    port, thread = serve_once(lambda conn: (conn.recv(4096), conn.sendall(b"HTTP/1.1 403 Forbidden\r\n\r\n")))
    monkeypatch.setenv("HTTPS_PROXY", f"127.0.0.1:{port}")
    with pytest.raises(OSError, match=r"answered 'HTTP/1\.1 403 Forbidden'"):
        terraform.probe("registry.example", 443, timeout=3)
    thread.join(3)


# --- the command ----------------------------------------------------------------------------------------


def test_the_terraform_command_stops_in_seconds_with_one_message(tmp_path):
    env = {**os.environ, "RELAY_TF_MIRROR": str(tmp_path), "RELAY_STATE_DIR": str(tmp_path / "state")}
    result = subprocess.run(
        [sys.executable, "-m", "tools.terraform", "validate"],
        cwd=terraform.paths.PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("relay: ") == 1 and "Terraform cannot install the provider" in result.stderr
    assert result.stdout == ""


def test_the_runner_needs_only_the_standard_library():
    """`python3 -m tools.terraform check` must run before the project's environments are installed."""
    code = (
        "import json, sys; before = set(sys.modules); import tools.terraform; "
        "new = set(sys.modules) - before; "
        "print(json.dumps(sorted(m for m in new if m.split('.')[0] not in sys.stdlib_module_names)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=terraform.paths.PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == ["config", "config.paths", "tools", "tools.terraform"]
