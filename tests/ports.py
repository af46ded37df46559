"""Free local TCP ports, for the tests that start a two-process TensorFlow cluster."""

from __future__ import annotations

import socket


def free_ports(n: int) -> list[int]:
    """`n` ports free on 127.0.0.1 now (bound, then released for the cluster to take)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports
