"""The application tier's and the edge's configuration: off by default, regions from the platform, standby
regions, what the tier reads named in the platform, certificates in their own region, and every bad value
reported at once with its field."""

from __future__ import annotations

import pytest

from config import ConfigError
from config.loader import validate
from tests.unit.test_platform_config import settings

CERTIFICATE = "arn:aws:acm:{region}:111122223333:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


def application(**changes):
    return settings(application={"enabled": True, **changes})


def problems(value) -> list[str]:
    with pytest.raises(ConfigError) as error:
        validate(value)
    return str(error.value).splitlines()


def test_off_by_default_and_every_target_deploys_the_release_template():
    config = validate(settings())
    assert not config.has_application and not config.has_edge
    assert config.application_regions == config.active_regions == config.standby_regions == []


def test_the_application_regions_are_the_platform_targets_in_target_order():
    config = validate(application(standby_regions=["eu-central-1"]))
    assert config.application_regions == ["eu-south-2", "eu-central-1"]
    assert config.active_regions == ["eu-south-2"]
    assert config.standby_regions == ["eu-central-1"]
    assert config.standby("eu-central-1") and not config.standby("eu-south-2")


def test_switching_the_platform_off_switches_the_application_and_the_edge_off():
    edge = {"enabled": True, "domain": "example.com"}
    config = validate(application(standby_regions=["nowhere"]) | {"platform": {"enabled": False}, "edge": edge})
    assert not config.has_application and not config.has_edge
    assert config.application_regions == []


def test_every_bad_value_is_reported_at_once():
    found = problems(
        application(
            standby_regions=["eu-south-2", "eu-central-1", "ap-southeast-4"],
            secret="nope",  # noqa: S106 - a secret's name, not a value
            table="nope",
            image="nope",
            capacity={"min_size": 3, "desired": 2, "max_size": 4},
            certificate_arns={
                "eu-south-2": CERTIFICATE.format(region="eu-west-1"),
                "ap-southeast-4": CERTIFICATE.format(region="ap-southeast-4"),
                "eu-central-1": "not-an-arn",
            },
        )
    )
    text = "\n".join(found)
    assert "application.capacity: min_size 3, desired 2, max_size 4: allowed min_size <= desired <= max_size" in found
    assert "application.certificate_arns.eu-central-1: 'not-an-arn' is not an ACM certificate ARN" in text
    assert (
        "application.standby_regions[2]: 'ap-southeast-4' is not an application region; allowed: eu-south-2, "
        "eu-central-1" in found
    )
    assert (
        "application.standby_regions: every application region is on standby; keep at least one active (remove it "
        "from standby_regions)" in found
    )
    assert (
        "application.certificate_arns.eu-south-2: the certificate is in 'eu-west-1'; a load balancer uses a "
        "certificate of its own region ('eu-south-2')" in found
    )
    assert (
        "application.certificate_arns.ap-southeast-4: 'ap-southeast-4' is not an application region; allowed: "
        "eu-south-2, eu-central-1" in found
    )
    assert "application.secret: 'nope' is not a platform secret; allowed: app" in found
    assert "application.table: 'nope' is not a platform table; allowed: sessions" in found
    assert "application.image: 'nope' is not a platform image repository; allowed: sample-app, tools/migrate" in found


def test_the_tier_needs_a_secret_a_table_and_an_image_in_the_platform():
    value = application()
    value["platform"]["secrets"] = []
    value["platform"]["data"]["tables"] = []
    found = problems(value)
    assert (
        "application.secret/platform.secrets: the application tier needs a secret; configure one under platform.secrets"
        in found
    )
    assert (
        "application.table/platform.data.tables: the application tier needs a table; configure one under "
        "platform.data.tables" in found
    )


def test_the_edge_needs_the_application_and_a_domain():
    found = problems(settings(edge={"enabled": True}))
    assert found == [
        "edge.enabled/application.enabled: the edge routes to the application tier; enable application too",
        "edge.domain: an enabled edge needs the domain of its hosted zone, e.g. example.com",
    ]


def test_cloudfront_aliases_need_a_certificate_in_us_east_1():
    edge = {"enabled": True, "domain": "example.com", "cloudfront": {"aliases": ["www.example.com"]}}
    found = problems(application(**{}) | {"edge": edge})
    assert any("aliases need certificate_arn" in line for line in found), found
    edge["cloudfront"]["certificate_arn"] = CERTIFICATE.format(region="eu-west-1")
    found = problems(application() | {"edge": edge})
    assert any("CloudFront only uses certificates in us-east-1" in line for line in found), found
    edge["cloudfront"]["certificate_arn"] = CERTIFICATE.format(region="us-east-1")
    config = validate(application() | {"edge": edge})
    assert config.edge.cloudfront.aliases == ["www.example.com"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ({"record": "App_1"}, None, "edge.record"),
        ({"health_check": {"request_interval": 15}}, None, "edge.health_check.request_interval"),
        ({"health_check": {"failure_threshold": 11}}, None, "edge.health_check.failure_threshold"),
        ({"zone_id": "not-a-zone"}, None, "edge.zone_id"),
        ({"cloudfront": {"minimum_protocol_version": "TLSv1"}}, None, "edge.cloudfront.minimum_protocol_version"),
    ],
)
def test_bad_edge_values_name_their_field(field, value, message):
    edge = {"enabled": True, "domain": "example.com", **field}
    found = problems(application() | {"edge": edge})
    assert any(line.startswith(message) for line in found), found
