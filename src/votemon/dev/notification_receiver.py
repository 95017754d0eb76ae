"""Where the local Argo CD's deploy feedback goes: a webhook receiver standing in for GitHub's
commit statuses (argocd/notifications/local sends the same triggers and templates here).

    python -m votemon.dev.notification_receiver --port 18086

POST / records one notification (a JSON object) in arrival order; GET / answers all of them, so
an operator or a test reads what Argo CD said about each commit. cluster/notifications.sh starts it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Notifications:
    """The notifications received so far, in order, shared by the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[dict[str, Any]] = []

    def add(self, notification: dict[str, Any]) -> None:
        with self._lock:
            self._items.append({**notification, "received": time.time()})

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._items)


def handler(received: Notifications) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.answer(HTTPStatus.OK, received.all())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                notification = json.loads(body)
            except ValueError as error:
                self.answer(HTTPStatus.BAD_REQUEST, {"error": f"body: not JSON ({error})"})
                return
            if not isinstance(notification, dict):
                self.answer(HTTPStatus.BAD_REQUEST, {"error": "body: not a JSON object"})
                return
            received.add(notification)
            self.log_message("notification %s", json.dumps(notification, sort_keys=True))
            self.answer(HTTPStatus.OK, {"received": len(received.all())})

        def answer(self, status: HTTPStatus, payload: object) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), handler(Notifications()))
    # SIGTERM ends serve_forever from another thread (it cannot be shut down from its own).
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"notification receiver on http://{args.host}:{args.port}/", file=sys.stderr, flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
