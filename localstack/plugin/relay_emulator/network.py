"""Bind LocalStack's gateway to the host named in GATEWAY_LISTEN.

LocalStack 4.14's twisted runtime server ignores the host part of ``GATEWAY_LISTEN`` for
IPv4 and listens on all interfaces (see the ``TODO: interface = host?`` in
``localstack/runtime/server/twisted.py``). The launcher asks for ``127.0.0.1:4566``: an
emulator without authentication should not be reachable from the network. Our start-up hook
runs before the server is created, so we hand the server module an ``endpoints`` shim that
passes the host as the listening interface.
"""

import logging

LOG = logging.getLogger("relay_emulator.network")


def bind_to_listen_host() -> None:
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

    server_module.endpoints = _Endpoints()
    LOG.debug("gateway listens on %s", ", ".join(f"{h}:{p}" for p, h in hosts.items()))
