"""A DNS server on 127.0.0.1 that answers one name with a changing set of A records: what cluster
DNS does for a headless Service as pods come and go. gRPC's c-ares resolver queries it when the
target names it as the authority (`dns://127.0.0.1:<port>/<name>:<grpc port>`)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class HeadlessDns:
    def __init__(self, name: str) -> None:
        self.name = name.rstrip(".") + "."
        self.addresses: list[str] = []
        self.queries = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def target(self, grpc_port: int) -> str:
        return f"dns://127.0.0.1:{self.port}/{self.name.rstrip('.')}:{grpc_port}"

    def _answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        question = query.question[0]
        if question.rdtype == dns.rdatatype.A and question.name.to_text().lower() == self.name:
            self.queries += 1
            if self.addresses:
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 1, dns.rdataclass.IN, "A", list(self.addresses))
                )
        return response.to_wire()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            self._sock.sendto(self._answer(wire), peer)

    @contextmanager
    def running(self) -> Iterator[HeadlessDns]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()
            self._sock.close()
