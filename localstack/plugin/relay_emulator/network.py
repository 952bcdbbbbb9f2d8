"""Bind LocalStack's gateway to the host named in GATEWAY_LISTEN.

LocalStack 4.14's twisted runtime server ignores the host part of ``GATEWAY_LISTEN`` for
IPv4 and listens on all interfaces (see the ``TODO: interface = host?`` in
``localstack/runtime/server/twisted.py``). The launcher asks for ``127.0.0.1:4566``: an
emulator without authentication should not be reachable from the network. Our start-up hook
runs before the server is created, so we patch the server module's ``endpoints`` with a shim
that passes the host as the listening interface.
"""

from __future__ import annotations

import logging

from localstack.utils.patch import Patch

LOG = logging.getLogger("relay_emulator.network")


def bind_to_listen_host() -> Patch:
    """Patch the server module so TCP4 endpoints listen on GATEWAY_LISTEN's host."""
    from localstack.runtime.server import twisted as server_module
    from twisted.internet import endpoints

    from localstack import config

    hosts = {hp.port: hp.host for hp in config.GATEWAY_LISTEN}

    class _Endpoints:
        """Proxy of ``twisted.internet.endpoints`` with an interface-aware TCP4 endpoint."""

        def __getattr__(self, name):
            return getattr(endpoints, name)

        @staticmethod
        def TCP4ServerEndpoint(reactor, port, *args, **kwargs):
            host = hosts.get(port)
            if host and host != "0.0.0.0" and not args and "interface" not in kwargs:  # noqa: S104
                kwargs["interface"] = host
            return endpoints.TCP4ServerEndpoint(reactor, port, *args, **kwargs)

    patch = Patch(server_module, "endpoints", _Endpoints())
    patch.apply()
    LOG.debug("gateway listens on %s", ", ".join(f"{h}:{p}" for p, h in hosts.items()))
    return patch
