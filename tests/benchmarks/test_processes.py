"""The process helpers' free ports: distinct when several are needed at once."""

from __future__ import annotations

import socket

from benchmarks.processes import free_ports


def test_ports_chosen_together_are_distinct_and_free():
    # Chosen one at a time, each probe closed before the next, 500 ports nearly always
    # repeat one (the kernel hands a just-closed port out again): 50 tries of 50 did.
    ports = free_ports(500)
    assert len(set(ports)) == 500
    for port in ports[:5]:
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
