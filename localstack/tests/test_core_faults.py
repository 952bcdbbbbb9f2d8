"""Injected faults (``relay_emulator.core.faults``), without an emulator."""

from __future__ import annotations

import threading

import pytest
from relay_emulator.core.faults import (
    FaultError,
    Holder,
    Registry,
    Scheduler,
    describe,
    down_backoff,
    down_message,
    validate_delay,
    validate_region_state,
)

KNOWN = {"us-east-1", "eu-west-1", "eu-south-2"}


def test_down_backoff_starts_at_half_a_second_doubles_and_stops_at_five():
    assert [down_backoff(i) for i in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_message_names_the_region_and_the_command():
    message = down_message("eu-west-1")
    assert "eu-west-1" in message and "relay emulator region down eu-west-1" in message


def test_regions_go_down_and_up_and_waiters_wake():
    reg = Registry()
    assert not reg.is_down("eu-west-1") and not reg.any_down()
    reg.set_down("eu-west-1", True)
    assert reg.is_down("eu-west-1") and not reg.is_down("eu-south-2")
    assert reg.wait_until_up("eu-west-1", timeout=0.01) is False
    assert reg.wait_until_up("eu-south-2", timeout=0) is True
    woke = []
    waiter = threading.Thread(target=lambda: woke.append(reg.wait_until_up("eu-west-1", timeout=30)))
    waiter.start()
    reg.set_down("eu-west-1", False)
    waiter.join(30)
    assert woke == [True] and not reg.any_down()


def test_delays_are_consumed_one_count_at_a_time_in_order():
    reg = Registry()
    reg.add_delay("eu-south-2", 5, count=2)
    reg.add_delay("eu-south-2", 9)
    assert reg.replication_delay("eu-west-1") == 0
    assert [reg.replication_delay("eu-south-2") for _ in range(4)] == [5, 5, 9, 0]
    assert reg.snapshot()["replication_delays"] == []


def test_snapshot_is_one_json_document_and_restores():
    reg = Registry()
    reg.set_down("eu-west-1", True)
    reg.add_delay("eu-south-2", 2.5, count=3)
    doc = reg.snapshot()
    assert doc == {
        "regions_down": ["eu-west-1"],
        "replication_delays": [{"region": "eu-south-2", "seconds": 2.5, "remaining": 3}],
    }
    other = Registry()
    other.restore(doc)
    assert other.snapshot() == doc
    other.clear()
    assert other.snapshot() == {"regions_down": [], "replication_delays": []}


def test_listeners_hear_every_change():
    reg, calls = Registry(), []
    reg.on_change(lambda: calls.append(1))
    reg.set_down("eu-west-1", True)
    reg.add_delay("eu-west-1", 1)
    reg.replication_delay("eu-west-1")
    reg.clear()
    assert len(calls) == 4


def test_region_state_input_is_checked():
    assert validate_region_state("eu-west-1", {"down": True}, KNOWN) is True
    assert validate_region_state("eu-west-1", {"down": False}, KNOWN) is False
    with pytest.raises(FaultError) as e:
        validate_region_state("mars-1", {"down": "yes"}, KNOWN)
    assert len(e.value.problems) == 2
    assert "unknown region 'mars-1'" in str(e.value) and '"down" must be true or false' in str(e.value)
    with pytest.raises(FaultError, match="JSON object"):
        validate_region_state("eu-west-1", [1], KNOWN)


def test_delay_input_names_every_problem():
    assert validate_delay({"region": "eu-south-2", "seconds": 3}, KNOWN) == ("eu-south-2", 3.0, 1)
    assert validate_delay({"region": "eu-south-2", "seconds": 0.5, "count": 4}, KNOWN) == ("eu-south-2", 0.5, 4)
    with pytest.raises(FaultError) as e:
        validate_delay({"region": "nowhere", "seconds": 0, "count": 0}, KNOWN)
    assert len(e.value.problems) == 3
    for bad in ({"region": "eu-south-2", "seconds": 3601}, {"region": "eu-south-2", "seconds": True}):
        with pytest.raises(FaultError, match="<= 3600"):
            validate_delay(bad, KNOWN)
    with pytest.raises(FaultError, match="whole number"):
        validate_delay({"region": "eu-south-2", "seconds": 1, "count": 1.5}, KNOWN)
    with pytest.raises(FaultError, match="JSON object"):
        validate_delay("x", KNOWN)


def test_describe_prints_one_line_per_fault():
    assert describe({"regions_down": [], "replication_delays": []}) == []
    lines = describe(
        {
            "regions_down": ["eu-west-1"],
            "replication_delays": [{"region": "eu-south-2", "seconds": 2.0, "remaining": 1}],
        }
    )
    assert lines == [
        "region eu-west-1 is down (every API call there answers 503 ServiceUnavailable)",
        "replication into eu-south-2 delayed 2 s for the next 1 replica(s)",
    ]


def test_scheduler_runs_work_in_due_order():
    sched, done, ran = Scheduler(), threading.Event(), []

    def add(name):
        ran.append(name)
        if len(ran) == 3:
            done.set()

    sched.schedule(0.2, lambda: add("late"))
    sched.schedule(0.0, lambda: add("now"))
    sched.schedule(0.1, lambda: 1 / 0)  # a failing callable does not stop the others
    sched.schedule(0.1, lambda: add("soon"))
    assert done.wait(10)
    assert ran == ["now", "soon", "late"] and sched.pending() == 0


def test_holder_runs_at_once_while_up_and_holds_in_order_while_down():
    reg = Registry()
    holder, ran = Holder(reg), []
    assert holder.run_or_hold("eu-west-1", lambda: ran.append("now"), "event") is True
    assert ran == ["now"] and holder.held() == {}
    reg.set_down("eu-west-1", True)
    for n in range(3):
        assert holder.run_or_hold("eu-west-1", lambda n=n: ran.append(n), f"event {n}") is False
    holder.run_or_hold("eu-south-2", lambda: ran.append("other region"), "event")
    assert ran == ["now", "other region"] and holder.held() == {"eu-west-1": 3}
    reg.set_down("eu-west-1", False)
    deadline = threading.Event()
    for _ in range(200):
        if not holder.held():
            break
        deadline.wait(0.05)
    assert ran == ["now", "other region", 0, 1, 2] and holder.held() == {}


def test_holder_keeps_a_delivery_that_fails_because_the_region_went_down_again():
    reg = Registry()
    holder, attempts, done = Holder(reg), [], threading.Event()

    def deliver():
        attempts.append(1)
        if len(attempts) == 1:
            reg.set_down("eu-west-1", True)  # down again while delivering: it fails and is kept
            threading.Timer(0.5, reg.set_down, ("eu-west-1", False)).start()
            raise RuntimeError("503")
        done.set()

    reg.set_down("eu-west-1", True)
    holder.run_or_hold("eu-west-1", deliver, "event")
    reg.set_down("eu-west-1", False)
    assert done.wait(10) and len(attempts) == 2
