"""CodeStar Connections / CodeConnections API (moto has neither).

Emulated: what Terraform's ``aws_codestarconnections_connection`` and host resources need -
connections, hosts and their tags (create, get, list, delete, tag, untag), per account and
region in LocalStack stores, tags through LocalStack's ``Tags``.

The provider behind every connection is the emulator's git host (``git_repos``): the
``CodeStarSourceConnection`` source action and git push triggers read its repositories.
Connections are created ``PENDING`` as in AWS. The OAuth handshake that makes one AVAILABLE in
AWS happens in a browser; its local stand-in is the repository: the first time a pipeline uses a
PENDING connection for a repository that exists in the git host, the connection becomes
AVAILABLE (``connection_for_use``). The tag ``relay:emulator-status=<STATUS>`` at creation sets
a status that stays (``PENDING`` included, to keep a connection from being used).
"""

from __future__ import annotations

import threading
import uuid

from localstack.aws.api import RequestContext, handler
from localstack.services.stores import AccountRegionBundle, BaseStore, LocalAttribute
from localstack.utils.tagging import Tags

from relay_emulator.common import StoreBacked, err, tag_list, tag_map

STATUS_TAG = "relay:emulator-status"
AVAILABLE = "AVAILABLE"
# connection_for_use changes a connection's status outside any request
_status_lock = threading.Lock()


class ConnectionsStore(BaseStore):
    """Connections and hosts of one account and region, by ARN, and their tags."""

    connections: dict[str, dict] = LocalAttribute(default=dict)
    hosts: dict[str, dict] = LocalAttribute(default=dict)
    tags: Tags = LocalAttribute(default=Tags)


# Region names are not validated: botocore's endpoint list for codeconnections names only a few
# of the regions AWS serves it in.
codestar_connections_stores = AccountRegionBundle("codestar-connections", ConnectionsStore, validate=False)
codeconnections_stores = AccountRegionBundle("codeconnections", ConnectionsStore, validate=False)


class _ConnectionsBase(StoreBacked):
    """Shared implementation; the two services differ only in names, ARN prefixes and stores."""

    def __init__(self):
        self._lock = threading.Lock()  # writes that touch a resource and its tags together

    def _arn(self, context: RequestContext, kind: str, resource_id: str) -> str:
        return f"arn:aws:{self.service}:{context.region}:{context.account_id}:{kind}/{resource_id}"

    def _find_connection(self, store: ConnectionsStore, arn: str) -> dict:
        conn = store.connections.get(arn)
        if conn is None:
            raise err("ResourceNotFoundException", f"Connection {arn} does not exist")
        return conn

    def _check_resource(self, store: ConnectionsStore, arn: str) -> None:
        if arn not in store.connections and arn not in store.hosts:
            raise err("ResourceNotFoundException", f"Resource {arn} does not exist")

    @handler("CreateConnection", expand=False)
    def create_connection(self, context: RequestContext, request: dict) -> dict:
        name = request.get("ConnectionName")
        if not name:
            raise err("ValidationException", "ConnectionName is required")
        if not request.get("ProviderType") and not request.get("HostArn"):
            raise err("ValidationException", "Either ProviderType or HostArn is required")
        arn = self._arn(context, "connection", str(uuid.uuid4()))
        tags = tag_map(request.get("Tags"))
        conn = {
            "ConnectionName": name,
            "ConnectionArn": arn,
            "ProviderType": request.get("ProviderType") or "GitHubEnterpriseServer",
            "OwnerAccountId": context.account_id,
            "ConnectionStatus": tags.get(STATUS_TAG) or "PENDING",
        }
        if request.get("HostArn"):
            conn["HostArn"] = request["HostArn"]
        store = self.store(context)
        with self._lock:
            store.connections[arn] = conn
            store.tags.update_tags(arn, tags)
        return {"ConnectionArn": arn, "Tags": tag_list(tags)}

    @handler("GetConnection", expand=False)
    def get_connection(self, context: RequestContext, request: dict) -> dict:
        return {"Connection": dict(self._find_connection(self.store(context), request.get("ConnectionArn")))}

    @handler("ListConnections", expand=False)
    def list_connections(self, context: RequestContext, request: dict) -> dict:
        items = list(self.store(context).connections.values())
        if request.get("ProviderTypeFilter"):
            items = [c for c in items if c["ProviderType"] == request["ProviderTypeFilter"]]
        if request.get("HostArnFilter"):
            items = [c for c in items if c.get("HostArn") == request["HostArnFilter"]]
        return {"Connections": [dict(c) for c in items]}

    @handler("DeleteConnection", expand=False)
    def delete_connection(self, context: RequestContext, request: dict) -> dict:
        arn = request.get("ConnectionArn")
        store = self.store(context)
        with self._lock:
            self._find_connection(store, arn)
            del store.connections[arn]
            store.tags.delete_all_tags(arn)
        return {}

    @handler("CreateHost", expand=False)
    def create_host(self, context: RequestContext, request: dict) -> dict:
        arn = self._arn(context, "host", f"{request.get('Name')}-{uuid.uuid4().hex[:8]}")
        host = {
            "Name": request.get("Name"),
            "HostArn": arn,
            "ProviderType": request.get("ProviderType"),
            "ProviderEndpoint": request.get("ProviderEndpoint"),
            "Status": "PENDING",
        }
        if request.get("VpcConfiguration"):
            host["VpcConfiguration"] = request["VpcConfiguration"]
        tags = tag_map(request.get("Tags"))
        store = self.store(context)
        with self._lock:
            store.hosts[arn] = host
            store.tags.update_tags(arn, tags)
        return {"HostArn": arn, "Tags": tag_list(tags)}

    @handler("GetHost", expand=False)
    def get_host(self, context: RequestContext, request: dict) -> dict:
        host = self.store(context).hosts.get(request.get("HostArn"))
        if host is None:
            raise err("ResourceNotFoundException", f"Host {request.get('HostArn')} does not exist")
        return {k: v for k, v in host.items() if k != "HostArn"}

    @handler("ListHosts", expand=False)
    def list_hosts(self, context: RequestContext, request: dict) -> dict:
        return {"Hosts": [dict(h) for h in self.store(context).hosts.values()]}

    @handler("DeleteHost", expand=False)
    def delete_host(self, context: RequestContext, request: dict) -> dict:
        arn = request.get("HostArn")
        store = self.store(context)
        with self._lock:
            if store.hosts.pop(arn, None) is None:
                raise err("ResourceNotFoundException", f"Host {arn} does not exist")
            store.tags.delete_all_tags(arn)
        return {}

    @handler("TagResource", expand=False)
    def tag_resource(self, context: RequestContext, request: dict) -> dict:
        arn = request.get("ResourceArn")
        store = self.store(context)
        with self._lock:
            self._check_resource(store, arn)
            store.tags.update_tags(arn, tag_map(request.get("Tags")))
        return {}

    @handler("UntagResource", expand=False)
    def untag_resource(self, context: RequestContext, request: dict) -> dict:
        arn = request.get("ResourceArn")
        store = self.store(context)
        with self._lock:
            self._check_resource(store, arn)
            store.tags.delete_tags(arn, list(request.get("TagKeys") or []))
        return {}

    @handler("ListTagsForResource", expand=False)
    def list_tags_for_resource(self, context: RequestContext, request: dict) -> dict:
        arn = request.get("ResourceArn")
        store = self.store(context)
        self._check_resource(store, arn)
        return {"Tags": tag_list(store.tags.get_tags(arn))}


class CodeStarConnectionsProvider(_ConnectionsBase):
    """CodeStar Connections (``codestar-connections``, ARNs ``arn:aws:codestar-connections:...``)."""

    service = "codestar-connections"
    version = "2019-12-01"
    stores = codestar_connections_stores


class CodeConnectionsProvider(_ConnectionsBase):
    """CodeConnections (``codeconnections``, ARNs ``arn:aws:codeconnections:...``)."""

    service = "codeconnections"
    version = "2023-12-01"
    stores = codeconnections_stores


class ConnectionUnusable(Exception):
    """A pipeline cannot use the connection; the message names it and why."""


_STORES = {"codestar-connections": codestar_connections_stores, "codeconnections": codeconnections_stores}


def connection_for_use(arn: str, repository_exists: bool) -> dict:
    """The connection a source action or push trigger uses (a copy), AVAILABLE as AWS requires.

    A PENDING connection without an explicit status tag completes its local handshake (becomes
    AVAILABLE) when the repository exists in the git host; ConnectionUnusable otherwise.
    """
    parts = (arn or "").split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] not in _STORES or not parts[5].startswith("connection/"):
        raise ConnectionUnusable(
            f"ConnectionArn {arn!r} is not a CodeStar Connections or CodeConnections connection ARN"
        )
    store = _STORES[parts[2]][parts[4]][parts[3]]
    with _status_lock:
        conn = store.connections.get(arn)
        if conn is None:
            raise ConnectionUnusable(f"Connection {arn} does not exist")
        explicit = store.tags.get_tags(arn).get(STATUS_TAG)
        if conn["ConnectionStatus"] == "PENDING" and not explicit and repository_exists:
            conn["ConnectionStatus"] = AVAILABLE
        if conn["ConnectionStatus"] != AVAILABLE:
            how = f" (tag {STATUS_TAG}={explicit})" if explicit else ""
            raise ConnectionUnusable(f"Connection {arn} is {conn['ConnectionStatus']}{how}, not {AVAILABLE}")
        return dict(conn)
