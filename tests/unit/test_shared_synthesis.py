"""The synthesis the suites share (tests/conftest.py): a session that may not wait gets nothing while another
session synthesizes, and the synthesis once it is there."""

from __future__ import annotations

import fcntl
import shutil

from config import paths
from tests.conftest import inputs_digest, synthesize_shared


def test_a_session_that_may_not_wait_gets_nothing_while_another_synthesizes_then_the_synthesis(
    local, tmp_path, monkeypatch
):
    monkeypatch.setattr(paths, "state_root", lambda: tmp_path)
    root = tmp_path / "synth"
    root.mkdir()
    with (root / "local.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another session, synthesizing
        assert synthesize_shared("local", local.config, wait=False) is None
        # it is done: the directory is renamed into place whole
        shutil.copytree(local.outdir, root / f"local-{inputs_digest(local.config)}")
        found = synthesize_shared("local", local.config, wait=False)
    assert found is not None
    assert found.stacks == local.stacks
