"""The emulator environment's Terraform state follows the emulator (a fresh emulator: the state moves aside),
and the home stacks' state files from before they were kept per home region are adopted once."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from config import load_config, paths
from tools import deploy


class Persistence(BaseHTTPRequestHandler):
    instance = "i-1"
    fresh = False

    def do_GET(self) -> None:
        doc = {"instance": type(self).instance, "fresh": type(self).fresh, "restored": [], "lost": []}
        body = json.dumps(doc).encode()
        self.send_response(200 if self.path == "/_relay/persistence" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def emulator(tmp_path, monkeypatch):
    """A server answering the emulator's persistence report, and the local environment pointed at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Persistence)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("RELAY_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("RELAY_ENV", "local")
    monkeypatch.setenv("RELAY_OVERRIDES", json.dumps({"emulator": {"endpoint": endpoint}}))
    Persistence.instance, Persistence.fresh = "i-1", False
    yield load_config()
    server.shutdown()


def state_folder(config):
    return paths.terraform_state_dir("emulator", config.environment)


def test_the_state_stays_while_the_emulator_keeps_its_instance_and_moves_aside_when_it_starts_afresh(emulator):
    folder = state_folder(emulator)
    folder.mkdir(parents=True)
    (folder / "relay-local-target-eu-south-2.tfstate").write_text("{}")
    assert deploy.follow_emulator(emulator) is None  # first sight: the instance is recorded
    assert (folder / ".emulator-instance").read_text().strip() == "i-1"
    assert deploy.follow_emulator(emulator) is None  # restored: same instance, the state stays
    assert (folder / "relay-local-target-eu-south-2.tfstate").is_file()

    Persistence.instance = "i-2"
    moved = deploy.follow_emulator(emulator)
    assert moved == folder / "lost-i-1"
    assert (moved / "relay-local-target-eu-south-2.tfstate").read_text() == "{}"
    assert not list(folder.glob("*.tfstate"))
    assert (folder / ".emulator-instance").read_text().strip() == "i-2"


def test_an_emulator_without_a_persistence_report_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("RELAY_STATE_DIR", str(tmp_path))
    config = load_config(
        environ={"RELAY_ENV": "local", "RELAY_OVERRIDES": '{"emulator": {"endpoint": "http://127.0.0.1:9"}}'}
    )
    assert deploy.follow_emulator(config) is None
    assert not state_folder(config).exists()


def test_the_home_stacks_old_state_files_are_adopted_once_under_their_home_region(emulator):
    folder = state_folder(emulator)
    folder.mkdir(parents=True)
    (folder / "relay-local-home.tfstate").write_text("old home")
    (folder / "relay-local-replication.tfstate").write_text("old replication")
    (folder / "relay-local-target-eu-south-2.tfstate").write_text("target")
    adopted = deploy.adopt_legacy_state(emulator)
    assert sorted(p.name for p in adopted) == [
        "relay-local-home.eu-west-1.tfstate",
        "relay-local-replication.eu-west-1.tfstate",
    ]
    assert (folder / "relay-local-home.eu-west-1.tfstate").read_text() == "old home"
    assert (folder / "relay-local-target-eu-south-2.tfstate").read_text() == "target"
    # a legacy file appearing next to an adopted one is never swapped in
    (folder / "relay-local-home.tfstate").write_text("stray")
    assert deploy.adopt_legacy_state(emulator) == []
    assert (folder / "relay-local-home.eu-west-1.tfstate").read_text() == "old home"


def test_a_state_from_before_instances_were_recorded_moves_aside_when_the_emulator_starts_afresh(emulator):
    folder = state_folder(emulator)
    folder.mkdir(parents=True)
    (folder / "relay-local-home.eu-west-1.tfstate").write_text("{}")
    Persistence.fresh = True  # e.g. RELAY_EMULATOR_PERSIST=0: a new instance at every start
    assert deploy.follow_emulator(emulator) == folder / "lost-unrecorded"
    assert (folder / "lost-unrecorded" / "relay-local-home.eu-west-1.tfstate").is_file()
    assert (folder / ".emulator-instance").read_text().strip() == "i-1"
