"""Route 53 decisions of the emulator (relay_emulator.core.route53_routing), without a server."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from relay_emulator.core import route53_routing as r53
from relay_emulator.core.route53_routing import Alias, CheckState, Record, Resolver

ZONE, ZONE_ID = "example.test.", "Z123"


def resolver(records, unhealthy=(), lbs_down=(), region="us-east-1", seed=1):
    return Resolver(
        ZONE,
        "/hostedzone/" + ZONE_ID,
        records,
        check_healthy=lambda check_id: check_id not in unhealthy,
        lb_healthy=lambda name: name not in lbs_down,
        region=region,
        rng=random.Random(seed),  # noqa: S311 - routing choice, not a secret
    )


# ------------------------------------------------------------------ thresholds and statuses


def test_new_check_is_healthy_and_turns_after_threshold_failures():
    state = CheckState()
    assert state.healthy
    assert state.observe(False, 3) and state.observe(False, 3)
    assert state.observe(False, 3) is False


def test_recovery_needs_threshold_consecutive_successes():
    state = CheckState(healthy=False)
    assert state.observe(True, 3) is False
    assert state.observe(False, 3) is False  # a failure resets the success streak
    assert state.observe(True, 3) is False and state.observe(True, 3) is False
    assert state.observe(True, 3) is True


def test_a_success_resets_the_failure_streak():
    state = CheckState()
    for outcome in (False, False, True, False, False):
        state.observe(outcome, 3)
    assert state.healthy
    assert state.observe(False, 3) is False


def test_threshold_one_flips_at_once():
    state = CheckState()
    assert state.observe(False, 1) is False
    assert state.observe(True, 1) is True


@pytest.mark.parametrize(
    ("measured", "inverted", "disabled", "expected"),
    [
        (True, False, False, True),
        (False, False, False, False),
        (True, True, False, False),
        (False, True, False, True),
        (False, False, True, True),
        (True, True, True, True),
    ],
)
def test_effective_status(measured, inverted, disabled, expected):
    assert r53.effective_status(measured, inverted, disabled) is expected


def test_calculated_status():
    assert r53.calculated_status([True, False, True], 2)
    assert not r53.calculated_status([True, False, False], 2)
    assert r53.calculated_status([False, False], 0)
    assert not r53.calculated_status([True, False], None)  # default: all children


def test_moto_values():
    assert r53.as_bool("true") and not r53.as_bool("false") and r53.as_bool(True)
    assert r53.as_bool(None, True) and not r53.as_bool([])
    assert r53.as_int("10") == 10 and r53.as_int(None, 3) == 3 and r53.as_int("x", 1) == 1


def test_probe_interval_override_and_request_interval():
    assert r53.probe_interval("10", "1") == 1.0
    assert r53.probe_interval("10", "0.5") == 0.5
    assert r53.probe_interval("10", None) == 10.0
    assert r53.probe_interval(None, "") == 30.0
    assert r53.probe_interval(30, "nonsense") == 30.0


def test_status_texts():
    assert r53.http_status_text(200, "OK") == "Success: HTTP Status Code 200, OK"
    assert r53.http_status_text(301, "Moved Permanently").startswith("Success")
    assert r53.http_status_text(503, "Service Unavailable") == "Failure: HTTP Status Code 503, Service Unavailable"
    assert r53.http_status_text(200, "OK", "ready", False).startswith("Failure: Response body")
    assert r53.http_status_text(200, "OK", "ready", True).startswith("Success")
    assert not r53.probe_success(r53.timeout_text())
    assert r53.probe_success(r53.TCP_SUCCESS)


def test_string_match_looks_at_the_first_5120_bytes():
    assert r53.string_match(b"x" * 5000 + b"ready", "ready")
    assert not r53.string_match(b"x" * 5120 + b"ready", "ready")


def test_loopback():
    assert r53.is_loopback("127.0.0.1") and r53.is_loopback("127.8.9.10") and r53.is_loopback("::1")
    assert not r53.is_loopback("10.0.0.1") and not r53.is_loopback("example.com") and not r53.is_loopback(None)


# ------------------------------------------------------------------ regions


def test_resolver_region_by_vpc_cidr():
    vpcs = [("eu-west-1", "10.10.0.0/16"), ("eu-south-2", "10.20.0.0/16"), ("eu-central-1", "10.20.5.0/24")]
    assert r53.resolver_region("10.10.3.4", vpcs) == "eu-west-1"
    assert r53.resolver_region("10.20.9.9", vpcs) == "eu-south-2"
    assert r53.resolver_region("10.20.5.9", vpcs) == "eu-central-1"  # most specific CIDR
    assert r53.resolver_region("192.168.0.1", vpcs) == "us-east-1"
    assert r53.resolver_region("not-an-ip", vpcs) == "us-east-1"
    assert r53.resolver_region(None, vpcs) == "us-east-1"


def test_region_distance():
    assert r53.region_distance("eu-west-1", "eu-west-1") == 0
    assert r53.region_distance("eu-south-2", "eu-west-3") < r53.region_distance("eu-south-2", "us-east-1")
    assert r53.region_distance("xx-nowhere-1", "eu-west-1") == float("inf")


# ------------------------------------------------------------------ answers


def test_simple_nxdomain_and_noerror():
    res = resolver([Record("www.example.test.", "A", ["1.2.3.4", "5.6.7.8"])])
    assert res.answer("www.example.test", "A").data == ["1.2.3.4", "5.6.7.8"]
    assert res.answer("WWW.example.test.", "a").rcode == "NOERROR"
    missing = res.answer("nope.example.test", "A")
    assert (missing.rcode, missing.data) == ("NXDOMAIN", [])
    other_type = res.answer("www.example.test", "TXT")
    assert (other_type.rcode, other_type.data) == ("NOERROR", [])


def test_cname_answers_other_types_and_wildcards():
    res = resolver(
        [
            Record("alias.example.test.", "CNAME", ["target.example.org"]),
            Record("*.apps.example.test.", "A", ["9.9.9.9"]),
        ]
    )
    assert res.answer("alias.example.test", "A").data == ["target.example.org"]
    assert res.answer("x.apps.example.test", "A").data == ["9.9.9.9"]
    assert res.answer("y.z.apps.example.test", "A").data == ["9.9.9.9"]
    assert res.answer("apps.example.test", "A").rcode == "NXDOMAIN"


def failover_pair(primary_check="hc-p", secondary_check=None):
    return [
        Record("www.example.test.", "A", ["1.1.1.1"], "p", failover="PRIMARY", health_check_id=primary_check),
        Record("www.example.test.", "A", ["2.2.2.2"], "s", failover="SECONDARY", health_check_id=secondary_check),
    ]


def test_failover():
    assert resolver(failover_pair()).answer("www.example.test", "A").data == ["1.1.1.1"]
    assert resolver(failover_pair(), unhealthy={"hc-p"}).answer("www.example.test", "A").data == ["2.2.2.2"]
    both = resolver(failover_pair(secondary_check="hc-s"), unhealthy={"hc-p", "hc-s"})
    answer = both.answer("www.example.test", "A")
    assert answer.data == ["1.1.1.1"] and not answer.healthy  # both unhealthy: the primary


def test_weighted_by_weight_skipping_unhealthy():
    records = [
        Record("w.example.test.", "A", ["1.1.1.1"], "a", weight=3, health_check_id="hc-a"),
        Record("w.example.test.", "A", ["2.2.2.2"], "b", weight=1, health_check_id="hc-b"),
        Record("w.example.test.", "A", ["3.3.3.3"], "c", weight=0),
    ]
    res = resolver(records, seed=7)
    counts = Counter(res.answer("w.example.test", "A").data[0] for _ in range(2000))
    assert set(counts) == {"1.1.1.1", "2.2.2.2"}  # weight 0 never while a nonzero one is healthy
    assert 2.4 < counts["1.1.1.1"] / counts["2.2.2.2"] < 3.8
    only_b = resolver(records, unhealthy={"hc-a"})
    assert {only_b.answer("w.example.test", "A").data[0] for _ in range(50)} == {"2.2.2.2"}
    zero_only = resolver(records, unhealthy={"hc-a", "hc-b"})
    assert {zero_only.answer("w.example.test", "A").data[0] for _ in range(50)} == {"3.3.3.3"}


def test_weighted_all_zero_and_all_unhealthy():
    records = [
        Record("w.example.test.", "A", ["1.1.1.1"], "a", weight=0, health_check_id="hc-a"),
        Record("w.example.test.", "A", ["2.2.2.2"], "b", weight=0, health_check_id="hc-b"),
    ]
    res = resolver(records)
    assert {res.answer("w.example.test", "A").data[0] for _ in range(100)} == {"1.1.1.1", "2.2.2.2"}
    down = resolver(records, unhealthy={"hc-a", "hc-b"})
    answers = {down.answer("w.example.test", "A").data[0] for _ in range(100)}
    assert answers == {"1.1.1.1", "2.2.2.2"}  # none healthy: all considered healthy


def latency_records():
    return [
        Record("l.example.test.", "A", ["1.1.1.1"], "eu-west-1", region="eu-west-1", health_check_id="hc-ie"),
        Record("l.example.test.", "A", ["2.2.2.2"], "eu-south-2", region="eu-south-2", health_check_id="hc-es"),
        Record("l.example.test.", "A", ["3.3.3.3"], "us-east-1", region="us-east-1", health_check_id="hc-us"),
    ]


def test_latency_closest_healthy_region():
    assert resolver(latency_records(), region="eu-south-2").answer("l.example.test", "A").data == ["2.2.2.2"]
    assert resolver(latency_records(), region="eu-west-2").answer("l.example.test", "A").data == ["1.1.1.1"]
    assert resolver(latency_records(), region="us-east-2").answer("l.example.test", "A").data == ["3.3.3.3"]
    down = resolver(latency_records(), region="eu-south-2", unhealthy={"hc-es"})
    assert down.answer("l.example.test", "A").data == ["1.1.1.1"]  # next closest healthy
    none = resolver(latency_records(), region="eu-south-2", unhealthy={"hc-es", "hc-ie", "hc-us"})
    assert none.answer("l.example.test", "A").data == ["2.2.2.2"]


def test_multivalue_answers_healthy_values():
    records = [
        Record("m.example.test.", "A", [f"10.0.0.{i}"], f"m{i}", multivalue=True, health_check_id=f"hc-{i}")
        for i in range(10)
    ]
    answer = resolver(records, unhealthy={"hc-0"}).answer("m.example.test", "A")
    assert len(answer.data) == 8 and "10.0.0.0" not in answer.data


LB = "app-1.eu-west-1.elb.amazonaws.com"
LB2 = "app-1.eu-south-2.elb.amazonaws.com"


def test_alias_to_load_balancer_answers_its_name_and_follows_its_targets():
    records = [
        Record(
            "app.example.test.",
            "A",
            set_identifier="p",
            failover="PRIMARY",
            alias=Alias("dualstack." + LB + ".", "Z32O12XQLNTSW2", True),
        ),
        Record("app.example.test.", "A", set_identifier="s", failover="SECONDARY", alias=Alias(LB2, "Z", True)),
    ]
    assert resolver(records).answer("app.example.test", "A").data == [LB]
    assert resolver(records, lbs_down={LB}).answer("app.example.test", "A").data == [LB2]
    no_eval = [
        Record(r.name, r.type, set_identifier=r.set_identifier, failover=r.failover, alias=r.alias) for r in records
    ]
    no_eval[0].alias = Alias(LB, "Z", False)
    assert resolver(no_eval, lbs_down={LB}).answer("app.example.test", "A").data == [LB]


def test_record_with_health_check_and_alias_needs_both():
    records = [
        Record(
            "app.example.test.",
            "A",
            set_identifier="p",
            failover="PRIMARY",
            health_check_id="hc",
            alias=Alias(LB, "Z", True),
        ),
        Record("app.example.test.", "A", ["2.2.2.2"], "s", failover="SECONDARY"),
    ]
    assert resolver(records).answer("app.example.test", "A").data == [LB]
    assert resolver(records, unhealthy={"hc"}).answer("app.example.test", "A").data == ["2.2.2.2"]
    assert resolver(records, lbs_down={LB}).answer("app.example.test", "A").data == ["2.2.2.2"]


def test_alias_to_a_record_of_the_zone_recurses():
    records = [
        *latency_records(),
        Record(
            "www.example.test.",
            "A",
            set_identifier="p",
            failover="PRIMARY",
            alias=Alias("l.example.test.", ZONE_ID, True),
        ),
        Record("www.example.test.", "A", ["9.9.9.9"], "s", failover="SECONDARY"),
        Record("apex.example.test.", "A", alias=Alias("www.example.test", ZONE_ID, False)),
    ]
    res = resolver(records, region="eu-west-1")
    assert res.answer("www.example.test", "A").data == ["1.1.1.1"]
    assert res.answer("apex.example.test", "A").data == ["1.1.1.1"]
    down = resolver(records, region="eu-west-1", unhealthy={"hc-ie", "hc-es", "hc-us"})
    assert down.answer("www.example.test", "A").data == ["9.9.9.9"]  # target has no healthy answer


def test_alias_loop_is_cut_by_the_depth_limit():
    records = [
        Record("a.example.test.", "A", alias=Alias("b.example.test", ZONE_ID, True)),
        Record("b.example.test.", "A", alias=Alias("a.example.test", ZONE_ID, True)),
    ]
    answer = resolver(records).answer("a.example.test", "A")
    assert answer.rcode == "NOERROR" and answer.data == []


def test_alias_outside_the_zone_answers_its_name():
    records = [Record("cdn.example.test.", "A", alias=Alias("d111.cloudfront.net.", "Z2FDTNDATAQYW2", False))]
    assert resolver(records).answer("cdn.example.test", "A").data == ["d111.cloudfront.net"]


def test_geolocation_and_mixed_policies_are_refused():
    geo = [Record("g.example.test.", "A", ["1.1.1.1"], "g", geo=True)]
    with pytest.raises(r53.RoutingNotEmulated):
        resolver(geo).answer("g.example.test", "A")
    mixed = [
        Record("x.example.test.", "A", ["1.1.1.1"], "a", weight=1),
        Record("x.example.test.", "A", ["2.2.2.2"], "b", region="eu-west-1"),
    ]
    with pytest.raises(r53.RoutingNotEmulated):
        resolver(mixed).answer("x.example.test", "A")


def test_lb_dns_name():
    assert r53.lb_dns_name("dualstack.App-1.eu-west-1.elb.amazonaws.com.") == "app-1.eu-west-1.elb.amazonaws.com"
    assert r53.lb_dns_name("d111.cloudfront.net") is None
