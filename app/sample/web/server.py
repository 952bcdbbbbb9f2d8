"""The sample application tier's web service: a small HTTP service on PORT (default 8080).

GET /healthz  200 "ok" once ready (its secret read, when SECRET_NAME is set); 503 and the reason otherwise.
GET /         JSON {"service", "region", "release", "instance", "standby"} from the environment (AWS_REGION,
              RELEASE_LABEL, STANDBY) and the instance id from IMDSv2 (the hostname where it is unreachable).
GET /items/<id>, PUT /items/<id>
              read or store a JSON object in the DynamoDB table TABLE_NAME (boto3 needed; 503 without it).

One log line per request on stdout; SIGTERM stops it cleanly (the request in progress finishes).
Standard library only; boto3 is imported when the secret or the table is first used.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SERVICE = "relay-sample-app"
ITEM_PATH = re.compile(r"^/items/([A-Za-z0-9._-]{1,128})$")
MAX_BODY = 64 * 1024
IMDS = "http://169.254.169.254/latest"


class NotFoundError(LookupError):
    """The item does not exist."""


class Items:
    """The item store: DynamoDB table `table_name`, its (string) partition key attribute `key` (the sample
    platform's table `sessions` has `pk`), the item's JSON in attribute `body`."""

    def __init__(self, table_name: str, region: str | None, key: str = "pk") -> None:
        import boto3

        self._table = boto3.resource("dynamodb", region_name=region).Table(table_name)
        self._key = key

    def get(self, item_id: str) -> dict[str, Any]:
        found = self._table.get_item(Key={self._key: item_id}).get("Item")
        if found is None:
            raise NotFoundError(item_id)
        return json.loads(found["body"])

    def put(self, item_id: str, item: dict[str, Any]) -> None:
        self._table.put_item(Item={self._key: item_id, "body": json.dumps(item, sort_keys=True)})


def read_secret(name: str, region: str | None) -> None:
    """Read the secret `name` (its value is not kept: the service only proves it can read it)."""
    import boto3

    boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=name)


def instance_id(timeout: float = 0.5) -> str:
    """The EC2 instance id from IMDSv2, or the hostname where the metadata service is unreachable."""
    try:
        token_request = urllib.request.Request(  # noqa: S310 - a fixed http URL
            f"{IMDS}/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}
        )
        with urllib.request.urlopen(token_request, timeout=timeout) as response:  # noqa: S310 - a fixed http URL
            token = response.read().decode()
        headers = {"X-aws-ec2-metadata-token": token}
        id_request = urllib.request.Request(f"{IMDS}/meta-data/instance-id", headers=headers)  # noqa: S310 - fixed
        with urllib.request.urlopen(id_request, timeout=timeout) as response:  # noqa: S310 - a fixed http URL
            return response.read().decode()
    except OSError:
        return socket.gethostname()


@dataclass
class App:
    """What the handler serves: identity, readiness and the item store."""

    region: str = ""
    release: str = ""
    standby: bool = False
    instance: str = ""
    secret_name: str = ""
    table_name: str = ""
    secret_reader: Callable[[str, str | None], None] = read_secret
    items_factory: Callable[[str, str | None], Any] = Items
    _ready: str | None = field(default=None, init=False)
    _items: Any = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> App:
        env = os.environ if environ is None else environ
        return cls(
            region=env.get("AWS_REGION", ""),
            release=env.get("RELEASE_LABEL", ""),
            standby=env.get("STANDBY", "false").lower() == "true",
            instance=instance_id(),
            secret_name=env.get("SECRET_NAME", ""),
            table_name=env.get("TABLE_NAME", ""),
        )

    def readiness(self) -> str | None:
        """None when ready, else why not. The secret is read once successfully; a failure is retried on the
        next check."""
        with self._lock:
            if self._ready is not None or not self.secret_name:
                return None
            try:
                self.secret_reader(self.secret_name, self.region or None)
            except Exception as error:
                return f"cannot read secret {self.secret_name!r}: {type(error).__name__}: {error}"
            self._ready = self.secret_name
            return None

    def identity(self) -> dict[str, Any]:
        return {
            "service": SERVICE,
            "region": self.region,
            "release": self.release,
            "instance": self.instance,
            "standby": self.standby,
        }

    def items(self) -> Any:
        """The item store; raises LookupError naming what is missing when there is none."""
        with self._lock:
            if self._items is None:
                if not self.table_name:
                    raise LookupError("TABLE_NAME is not set")
                try:
                    self._items = self.items_factory(self.table_name, self.region or None)
                except ImportError as error:
                    raise LookupError(f"boto3 is not installed ({error})") from None
            return self._items


class Handler(BaseHTTPRequestHandler):
    """Routes requests to the server's App."""

    server_version = SERVICE
    protocol_version = "HTTP/1.1"

    @property
    def app(self) -> App:
        return self.server.app  # type: ignore[attr-defined]

    def send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = (json.dumps(body) if content_type == "application/json" else str(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status: HTTPStatus, message: str) -> None:
        self.send(status, {"error": message})

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            reason = self.app.readiness()
            if reason is None:
                self.send(HTTPStatus.OK, "ok", "text/plain")
            else:
                self.send(HTTPStatus.SERVICE_UNAVAILABLE, reason, "text/plain")
        elif path == "/":
            self.send(HTTPStatus.OK, self.app.identity())
        elif path.startswith("/items/"):
            self.item(path, write=False)
        else:
            self.error(HTTPStatus.NOT_FOUND, f"no route {path}")

    def do_PUT(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("/items/"):
            self.item(path, write=True)
        else:
            self.error(HTTPStatus.NOT_FOUND, f"no route {path}")

    def item(self, path: str, *, write: bool) -> None:
        match = ITEM_PATH.match(path)
        if not match:
            self.error(HTTPStatus.BAD_REQUEST, "an item id is 1 to 128 letters, digits, '.', '_' or '-'")
            return
        item_id = match.group(1)
        body = None
        if write:
            body = self.json_body()
            if body is None:
                return
        try:
            store = self.app.items()
        except LookupError as error:
            self.error(HTTPStatus.SERVICE_UNAVAILABLE, f"no item store: {error}")
            return
        try:
            if write:
                store.put(item_id, body)
                self.send(HTTPStatus.OK, {"id": item_id, "item": body})
            else:
                self.send(HTTPStatus.OK, {"id": item_id, "item": store.get(item_id)})
        except NotFoundError:
            self.error(HTTPStatus.NOT_FOUND, f"no item {item_id!r}")
        except Exception as error:
            self.error(HTTPStatus.BAD_GATEWAY, f"item store failed: {type(error).__name__}: {error}")

    def json_body(self) -> dict[str, Any] | None:
        """The request's JSON object; None after answering 400 or 413."""
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self.error(HTTPStatus.BAD_REQUEST, "Content-Length is required")
            return None
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self.error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a body is at most {MAX_BODY} bytes")
            return None
        try:
            body = json.loads(self.rfile.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            self.error(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {error}")
            return None
        if not isinstance(body, dict):
            self.error(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
            return None
        return body

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = code.value if isinstance(code, HTTPStatus) else code
        print(
            json.dumps(
                {
                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "client": self.client_address[0],
                    "method": self.command,
                    "path": self.path,
                    "status": status,
                }
            ),
            flush=True,
        )

    def log_message(self, format: str, *args: Any) -> None:
        print(format % args, file=sys.stderr, flush=True)


def make_server(app: App, host: str = "0.0.0.0", port: int = 8080) -> ThreadingHTTPServer:  # noqa: S104 - a container's service
    """An HTTP server for `app` bound to host:port (port 0 picks a free one); start it with serve_forever()."""
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.app = app  # type: ignore[attr-defined]
    return server


def main() -> None:
    server = make_server(App.from_environment(), port=int(os.environ.get("PORT", "8080")))

    def stop(signum: int, _frame: Any) -> None:
        print(json.dumps({"event": "stopping", "signal": signal.Signals(signum).name}), flush=True)
        # shutdown() waits for serve_forever() to return, which runs in this (the main) thread: from another.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(json.dumps({"event": "listening", "port": server.server_address[1]}), flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        print(json.dumps({"event": "stopped"}), flush=True)


if __name__ == "__main__":
    main()
