"""Free local TCP ports, for servers a test or benchmark starts."""

from __future__ import annotations

import socket


def free_ports(count: int) -> list[int]:
    """Distinct local TCP ports nothing listens on now (all held open together so none repeats)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    """A local TCP port nothing listens on now: for a server a test starts, or to show how a
    client copes with a server that is not there."""
    return free_ports(1)[0]
