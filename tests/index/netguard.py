"""Refuse (and record) every socket connection or name lookup that leaves the machine.

Python-level only: it patches the ``socket`` module, which huggingface_hub, httpx, requests and
posthog all go through. Loopback addresses and Unix sockets stay allowed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_local(host: object) -> bool:
    if host is None:
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


def _address_is_local(address: Any) -> bool:
    # Unix sockets are paths (str/bytes); internet ones are (host, port, ...) tuples.
    return not isinstance(address, tuple) or is_local(address[0])


def install(patch: Callable[[object, str, object], None]) -> list[str]:
    """Install the guard with ``patch(target, name, value)``; returns the list of blocked attempts."""
    blocked: list[str] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def refuse(what: str) -> OSError:
        blocked.append(what)
        return OSError(f"network access blocked by the test: {what}")

    def connect(sock: socket.socket, address: Any) -> None:
        if not _address_is_local(address):
            raise refuse(f"connect {address!r}")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if not _address_is_local(address):
            raise refuse(f"connect_ex {address!r}")
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_local(host):
            blocked.append(f"getaddrinfo {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"name lookup blocked by the test: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    patch(socket.socket, "connect", connect)
    patch(socket.socket, "connect_ex", connect_ex)
    patch(socket, "getaddrinfo", getaddrinfo)
    return blocked
