"""Loopback TCP ports: which are free, for the services CityShare starts on 127.0.0.1."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could bind ``host:port`` now (a port taken by another program is not)."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def pick_port(preferred: int) -> int:
    """``preferred`` when it is free, else any free port (a demo should not fail on a busy default)."""
    return preferred if port_is_free(preferred) else free_port()
