"""CodeStar Connections / CodeConnections API (moto has neither).

Enough for Terraform's ``aws_codestarconnections_connection`` (create, get, list, delete,
tags) and for host resources. Connections are created in status ``PENDING`` as in AWS (the
OAuth handshake happens in a browser); ``UpdateConnectionStatus`` is not an AWS API, so the
status can be set to AVAILABLE through the tag ``relay:emulator-status=AVAILABLE`` for tests.
"""

from __future__ import annotations

import threading
import uuid

from localstack.aws.api import CommonServiceException, RequestContext, handler

_LOCK = threading.Lock()
# (service, account, region) -> arn -> record
_CONNECTIONS: dict[tuple, dict[str, dict]] = {}
_HOSTS: dict[tuple, dict[str, dict]] = {}
_TAGS: dict[str, list] = {}


def _err(code: str, message: str) -> CommonServiceException:
    return CommonServiceException(code=code, message=message, status_code=400, sender_fault=True)


class _ConnectionsBase:
    """Shared implementation; the two services differ only in names and ARN prefixes."""

    arn_service = "codestar-connections"

    def _scope(self, context):
        return (self.service, context.account_id, context.region)

    def _find(self, context, arn: str) -> dict:
        conn = _CONNECTIONS.get(self._scope(context), {}).get(arn)
        if conn is None:
            raise _err("ResourceNotFoundException", f"Connection {arn} does not exist")
        return conn

    @handler("CreateConnection", expand=False)
    def create_connection(self, context: RequestContext, request: dict) -> dict:
        name = request.get("ConnectionName")
        if not name:
            raise _err("ValidationException", "ConnectionName is required")
        if not request.get("ProviderType") and not request.get("HostArn"):
            raise _err("ValidationException", "Either ProviderType or HostArn is required")
        arn = f"arn:aws:{self.arn_service}:{context.region}:{context.account_id}:connection/{uuid.uuid4()}"
        status = "PENDING"
        for t in request.get("Tags") or []:
            if t.get("Key") == "relay:emulator-status":
                status = t.get("Value") or status
        conn = {
            "ConnectionName": name,
            "ConnectionArn": arn,
            "ProviderType": request.get("ProviderType") or "GitHubEnterpriseServer",
            "OwnerAccountId": context.account_id,
            "ConnectionStatus": status,
        }
        if request.get("HostArn"):
            conn["HostArn"] = request["HostArn"]
        with _LOCK:
            _CONNECTIONS.setdefault(self._scope(context), {})[arn] = conn
            _TAGS[arn] = list(request.get("Tags") or [])
        return {"ConnectionArn": arn, "Tags": _TAGS[arn]}

    @handler("GetConnection", expand=False)
    def get_connection(self, context: RequestContext, request: dict) -> dict:
        return {"Connection": dict(self._find(context, request.get("ConnectionArn")))}

    @handler("ListConnections", expand=False)
    def list_connections(self, context: RequestContext, request: dict) -> dict:
        items = list(_CONNECTIONS.get(self._scope(context), {}).values())
        if request.get("ProviderTypeFilter"):
            items = [c for c in items if c["ProviderType"] == request["ProviderTypeFilter"]]
        if request.get("HostArnFilter"):
            items = [c for c in items if c.get("HostArn") == request["HostArnFilter"]]
        return {"Connections": [dict(c) for c in items]}

    @handler("DeleteConnection", expand=False)
    def delete_connection(self, context: RequestContext, request: dict) -> dict:
        arn = request.get("ConnectionArn")
        self._find(context, arn)
        with _LOCK:
            _CONNECTIONS[self._scope(context)].pop(arn, None)
            _TAGS.pop(arn, None)
        return {}

    @handler("CreateHost", expand=False)
    def create_host(self, context: RequestContext, request: dict) -> dict:
        host_id = f"{request.get('Name')}-{uuid.uuid4().hex[:8]}"
        arn = f"arn:aws:{self.arn_service}:{context.region}:{context.account_id}:host/{host_id}"
        host = {
            "Name": request.get("Name"),
            "HostArn": arn,
            "ProviderType": request.get("ProviderType"),
            "ProviderEndpoint": request.get("ProviderEndpoint"),
            "Status": "PENDING",
        }
        if request.get("VpcConfiguration"):
            host["VpcConfiguration"] = request["VpcConfiguration"]
        with _LOCK:
            _HOSTS.setdefault(self._scope(context), {})[arn] = host
            _TAGS[arn] = list(request.get("Tags") or [])
        return {"HostArn": arn, "Tags": _TAGS[arn]}

    @handler("GetHost", expand=False)
    def get_host(self, context: RequestContext, request: dict) -> dict:
        host = _HOSTS.get(self._scope(context), {}).get(request.get("HostArn"))
        if host is None:
            raise _err("ResourceNotFoundException", f"Host {request.get('HostArn')} does not exist")
        return {k: v for k, v in host.items() if k != "HostArn"}

    @handler("ListHosts", expand=False)
    def list_hosts(self, context: RequestContext, request: dict) -> dict:
        return {"Hosts": [dict(h) for h in _HOSTS.get(self._scope(context), {}).values()]}

    @handler("DeleteHost", expand=False)
    def delete_host(self, context: RequestContext, request: dict) -> dict:
        arn = request.get("HostArn")
        if _HOSTS.get(self._scope(context), {}).pop(arn, None) is None:
            raise _err("ResourceNotFoundException", f"Host {arn} does not exist")
        _TAGS.pop(arn, None)
        return {}

    @handler("TagResource", expand=False)
    def tag_resource(self, context: RequestContext, request: dict) -> dict:
        arn = request.get("ResourceArn")
        if arn not in _TAGS:
            raise _err("ResourceNotFoundException", f"Resource {arn} does not exist")
        new = {t["Key"]: t["Value"] for t in request.get("Tags") or []}
        with _LOCK:
            _TAGS[arn] = [t for t in _TAGS[arn] if t["Key"] not in new] + [
                {"Key": k, "Value": v} for k, v in new.items()
            ]
        return {}

    @handler("UntagResource", expand=False)
    def untag_resource(self, context: RequestContext, request: dict) -> dict:
        arn = request.get("ResourceArn")
        if arn not in _TAGS:
            raise _err("ResourceNotFoundException", f"Resource {arn} does not exist")
        keys = set(request.get("TagKeys") or [])
        with _LOCK:
            _TAGS[arn] = [t for t in _TAGS[arn] if t["Key"] not in keys]
        return {}

    @handler("ListTagsForResource", expand=False)
    def list_tags_for_resource(self, context: RequestContext, request: dict) -> dict:
        arn = request.get("ResourceArn")
        if arn not in _TAGS:
            raise _err("ResourceNotFoundException", f"Resource {arn} does not exist")
        return {"Tags": list(_TAGS[arn])}


class CodeStarConnectionsProvider(_ConnectionsBase):
    service = "codestar-connections"
    version = "2019-12-01"
    arn_service = "codestar-connections"


class CodeConnectionsProvider(_ConnectionsBase):
    service = "codeconnections"
    version = "2023-12-01"
    arn_service = "codeconnections"
