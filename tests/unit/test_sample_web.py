"""The sample web service (app/sample/web/server.py) served on a free port: readiness follows its secret,
identity comes from the environment, items go to the store (a fake here: no boto3, no network), bad input
gets a 4xx that says why, and SIGTERM stops the process cleanly."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "app" / "sample" / "web" / "server.py"


def load_server():
    # No __pycache__ in app/sample: the build zips that folder as the release's source.
    sys.dont_write_bytecode, previous = True, sys.dont_write_bytecode
    try:
        spec = importlib.util.spec_from_file_location("sample_web_server", SERVER)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = previous
    return module


server = load_server()


class FakeItems:
    """The item store's interface over a dict."""

    def __init__(self, table_name: str, region: str | None) -> None:
        self.table_name, self.region, self.items = table_name, region, {}

    def get(self, item_id):
        if item_id not in self.items:
            raise server.NotFoundError(item_id)
        return self.items[item_id]

    def put(self, item_id, item):
        self.items[item_id] = item


class Secret:
    """A secret reader that fails until `readable`, counting its calls."""

    def __init__(self, readable: bool) -> None:
        self.readable, self.calls = readable, 0

    def __call__(self, name: str, region: str | None) -> None:
        self.calls += 1
        if not self.readable:
            raise PermissionError(f"AccessDenied on {name} in {region}")


def serve(app) -> Iterator[int]:
    httpd = server.make_server(app, host="127.0.0.1", port=0)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def request(port: int, method: str, path: str, body: bytes | None = None, headers=None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def application(**fields):
    defaults = {
        "region": "eu-west-1",
        "release": "r42",
        "standby": True,
        "instance": "i-0123456789abcdef0",
        "table_name": "relay-items",
        "items_factory": FakeItems,
    }
    return server.App(**{**defaults, **fields})


@pytest.fixture
def port() -> Iterator[int]:
    yield from serve(application())


def test_health_is_ok_without_a_secret_to_read_and_the_root_tells_who_answers(port):
    assert request(port, "GET", "/healthz") == (200, "ok")
    status, body = request(port, "GET", "/?probe=1")
    assert status == 200
    assert json.loads(body) == {
        "service": "relay-sample-app",
        "region": "eu-west-1",
        "release": "r42",
        "instance": "i-0123456789abcdef0",
        "standby": True,
    }


def test_an_item_is_stored_and_read_back_and_a_missing_one_is_404(port):
    assert request(port, "GET", "/items/a-1")[0] == 404
    status, body = request(port, "PUT", "/items/a-1", b'{"colour": "green"}', {"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (200, {"id": "a-1", "item": {"colour": "green"}})
    status, body = request(port, "GET", "/items/a-1")
    assert (status, json.loads(body)["item"]) == (200, {"colour": "green"})


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "reason"),
    [
        ("GET", "/nowhere", None, 404, "no route /nowhere"),
        ("PUT", "/", b"{}", 404, "no route /"),
        ("GET", "/items/a%2Fb", None, 400, "an item id is"),
        ("GET", "/items/", None, 400, "an item id is"),
        ("PUT", "/items/x", b"{not json", 400, "the body is not JSON"),
        ("PUT", "/items/x", b"[1, 2]", 400, "the body must be a JSON object"),
        ("PUT", "/items/x", b"x" * (server.MAX_BODY + 1), 413, "a body is at most"),
    ],
)
def test_bad_requests_get_a_4xx_that_says_why(port, method, path, body, status, reason):
    got, text = request(port, method, path, body)
    assert got == status
    assert json.loads(text)["error"].startswith(reason)


def test_health_is_503_with_the_reason_while_the_secret_cannot_be_read_then_ok_once_read():
    secret = Secret(readable=False)
    for port in serve(application(secret_name="relay/app", secret_reader=secret)):  # noqa: S106 - a name
        status, body = request(port, "GET", "/healthz")
        assert status == 503
        assert body == "cannot read secret 'relay/app': PermissionError: AccessDenied on relay/app in eu-west-1"
        secret.readable = True
        assert request(port, "GET", "/healthz") == (200, "ok")
        assert request(port, "GET", "/healthz") == (200, "ok")
    assert secret.calls == 2, "a secret read once is not read again"


def test_item_routes_are_503_without_a_table_or_without_boto3():
    def no_boto3(table_name, region):
        raise ImportError("No module named 'boto3'")

    for port in serve(application(table_name="")):
        status, body = request(port, "GET", "/items/a")
        assert (status, json.loads(body)["error"]) == (503, "no item store: TABLE_NAME is not set")
    for port in serve(application(items_factory=no_boto3)):
        status, body = request(port, "PUT", "/items/a", b"{}")
        assert status == 503
        assert json.loads(body)["error"] == "no item store: boto3 is not installed (No module named 'boto3')"


def test_the_environment_sets_identity_and_standby():
    app = server.App.from_environment(
        {"AWS_REGION": "ap-southeast-4", "RELEASE_LABEL": "r7", "STANDBY": "TRUE", "TABLE_NAME": "t"}
    )
    assert (app.region, app.release, app.standby, app.table_name, app.secret_name) == (
        "ap-southeast-4",
        "r7",
        True,
        "t",
        "",
    )
    assert server.App.from_environment({}).standby is False


def test_the_process_logs_one_line_per_request_and_stops_cleanly_on_sigterm():
    environ = {**os.environ, "PORT": "0", "PYTHONDONTWRITEBYTECODE": "1", "RELEASE_LABEL": "r9"}
    process = subprocess.Popen(
        [sys.executable, str(SERVER)], env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        listening = json.loads(process.stdout.readline())
        assert listening["event"] == "listening"
        assert request(listening["port"], "GET", "/healthz") == (200, "ok")
        assert json.loads(request(listening["port"], "GET", "/")[1])["release"] == "r9"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(line.get("method"), line.get("path"), line.get("status")) for line in lines[:2]] == [
        ("GET", "/healthz", 200),
        ("GET", "/", 200),
    ]
    assert lines[2:] == [{"event": "stopping", "signal": "SIGTERM"}, {"event": "stopped"}]
    assert process.returncode == 0, err
