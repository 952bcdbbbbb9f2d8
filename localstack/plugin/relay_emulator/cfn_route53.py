"""CloudFormation resource provider for ``AWS::Route53::HostedZone``.

LocalStack 4.14 community has resource providers for ``AWS::Route53::RecordSet`` and
``AWS::Route53::HealthCheck`` but none for hosted zones: a template with one failed (the plugin's
CloudFormation guard refuses the "fallback" deployment). This provider calls the emulator's Route 53
API through the request's internal clients, so the zone really exists and any API error fails it:

* properties ``Name``, ``HostedZoneConfig.Comment``, ``HostedZoneTags``, ``VPCs`` (a private zone:
  the first VPC at creation, the others associated after);
* Ref = the zone id (without ``/hostedzone/``), GetAtt ``Id`` and ``NameServers``;
* updates in place: the comment, the tags, VPC associations; ``Name`` replaces the zone;
* delete deletes the zone (Route 53 refuses while records other than NS / SOA remain, as in AWS).
  ``QueryLoggingConfig`` is not supported (the stack fails naming it).
"""

from __future__ import annotations

import uuid

from localstack.services.cloudformation.resource_provider import ProgressEvent, ResourceProvider, ResourceRequest

from relay_emulator.cfn_providers import delete_named, done, previous_state, provider_plugin, schema


def _vpc(v: dict) -> dict:
    return {"VPCId": v["VPCId"], "VPCRegion": v["VPCRegion"]}


class HostedZoneProvider(ResourceProvider[dict]):
    TYPE = "AWS::Route53::HostedZone"
    SCHEMA = schema("Id", create_only=["Name"], read_only=["Id", "NameServers"])

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        model = dict(request.desired_state)
        if model.get("QueryLoggingConfig"):
            raise ValueError("AWS::Route53::HostedZone QueryLoggingConfig is not supported by the emulator")
        r53 = request.aws_client_factory.route53
        params = {"Name": model["Name"], "CallerReference": str(uuid.uuid4())}
        comment = (model.get("HostedZoneConfig") or {}).get("Comment")
        vpcs = [_vpc(v) for v in model.get("VPCs") or []]
        if comment is not None:
            params["HostedZoneConfig"] = {"Comment": comment}
        if vpcs:
            params["VPC"] = vpcs[0]
            params.setdefault("HostedZoneConfig", {})["PrivateZone"] = True
        response = r53.create_hosted_zone(**params)
        zone_id = response["HostedZone"]["Id"].rsplit("/", 1)[-1]
        for vpc in vpcs[1:]:
            r53.associate_vpc_with_hosted_zone(HostedZoneId=zone_id, VPC=vpc)
        self._tags(r53, zone_id, model.get("HostedZoneTags") or [], [])
        model["Id"] = zone_id
        model["NameServers"] = list((response.get("DelegationSet") or {}).get("NameServers") or [])
        return done(model)

    @staticmethod
    def _tags(r53, zone_id: str, tags: list, previous: list) -> None:
        wanted = {t["Key"]: t["Value"] for t in tags}
        gone = [t["Key"] for t in previous if t["Key"] not in wanted]
        params = {"ResourceType": "hostedzone", "ResourceId": zone_id}
        if wanted:
            params["AddTags"] = [{"Key": k, "Value": v} for k, v in wanted.items()]
        if gone:
            params["RemoveTagKeys"] = gone
        if wanted or gone:
            r53.change_tags_for_resource(**params)

    def update(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        previous = previous_state(request)
        model = dict(request.desired_state)
        r53 = request.aws_client_factory.route53
        zone_id = previous["Id"]
        comment = (model.get("HostedZoneConfig") or {}).get("Comment")
        if comment != (previous.get("HostedZoneConfig") or {}).get("Comment"):
            r53.update_hosted_zone_comment(Id=zone_id, Comment=comment or "")
        self._tags(r53, zone_id, model.get("HostedZoneTags") or [], previous.get("HostedZoneTags") or [])
        before = {(v["VPCId"], v["VPCRegion"]) for v in previous.get("VPCs") or []}
        after = {(v["VPCId"], v["VPCRegion"]) for v in model.get("VPCs") or []}
        for vpc_id, region in after - before:
            r53.associate_vpc_with_hosted_zone(HostedZoneId=zone_id, VPC={"VPCId": vpc_id, "VPCRegion": region})
        for vpc_id, region in before - after:
            r53.disassociate_vpc_from_hosted_zone(HostedZoneId=zone_id, VPC={"VPCId": vpc_id, "VPCRegion": region})
        model["Id"], model["NameServers"] = zone_id, previous.get("NameServers") or []
        return done(model)

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        return delete_named(request, "Id", lambda: request.aws_client_factory.route53.delete_hosted_zone)


HostedZonePlugin = provider_plugin(HostedZoneProvider)
