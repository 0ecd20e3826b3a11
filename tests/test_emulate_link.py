"""The emulator's link: a real TCP relay to a real HTTP server that can be taken offline."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from terminal.emulator.link import Link, LinkError


class _Pong(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connections stay open between requests

    def do_GET(self) -> None:
        body = f"pong {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[tuple[str, int]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pong)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def link(upstream: tuple[str, int]) -> Iterator[Link]:
    with Link(upstream, name="test-link") as relay:
        yield relay


def _raw_get(sock: socket.socket, path: str) -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while b"pong" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_requests_pass_through_while_online(link: Link) -> None:
    with requests.Session() as session:
        assert session.get(f"{link.url}/a", timeout=5).text == "pong /a"
        assert session.get(f"{link.url}/b", timeout=5).text == "pong /b"
    assert link.online and link.accepted >= 1


def test_offline_refuses_new_connections_and_online_brings_them_back(link: Link) -> None:
    link.set_online(False)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{link.url}/down", timeout=5)
    assert link.refused >= 1
    link.set_online(True)
    assert requests.get(f"{link.url}/up", timeout=5).text == "pong /up"


def test_going_offline_cuts_an_open_connection(link: Link) -> None:
    with socket.create_connection(link.address, timeout=5) as sock:
        assert b"pong /first" in _raw_get(sock, "/first")
        link.set_online(False)
        try:
            rest = sock.recv(4096)
        except ConnectionResetError:
            rest = b""
        assert rest == b""  # the device sees the connection drop, not an answer
    assert link.open_connections == 0


def test_a_target_that_is_down_looks_like_an_offline_link() -> None:
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()  # nothing listens there now
    with Link(("127.0.0.1", port)) as relay:
        with pytest.raises(requests.ConnectionError):
            requests.get(relay.url, timeout=5)
        assert relay.refused == 1


def test_switch_listeners_hear_changes_only(link: Link) -> None:
    heard: list[bool] = []
    link.on_change(lambda: heard.append(link.online))
    link.set_online(True)
    link.set_online(False)
    link.set_online(False)
    link.set_online(True)
    assert heard == [False, True]


def test_a_busy_port_is_one_clear_error(link: Link) -> None:
    with pytest.raises(LinkError, match="cannot listen"):
        Link(("127.0.0.1", 1), port=link.address[1]).start()


def test_close_is_idempotent_and_stops_listening(upstream: tuple[str, int]) -> None:
    relay = Link(upstream).start()
    address = relay.address
    relay.close()
    relay.close()
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=2).close()
