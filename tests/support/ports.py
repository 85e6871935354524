"""A TCP port on the loopback that nothing listens on, for tests that start a server or need a closed port."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port the OS just handed out and released: free now (a server may take it), closed until one does."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
