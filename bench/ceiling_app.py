"""The HTTP ceiling: a trivial Quart POST handler (parse JSON, reply 202) on votemon's Hypercorn settings.

python -m bench.ceiling_app --bind 127.0.0.1:PORT
"""

from __future__ import annotations

import argparse

import orjson
import uvloop
from quart import Quart, Response, request

from votemon.runtime import add_probes, serve_app, stop_event
from votemon.settings import Settings


def create_app() -> Quart:
    app = Quart("bench.ceiling")

    async def ready() -> bool:
        return True

    add_probes(app, ready, Settings().votemon_version)

    @app.post("/grpc")
    async def submit() -> Response:
        document = orjson.loads(await request.get_data(cache=False))
        accepted = len(document) if isinstance(document, list) else 1
        return Response(orjson.dumps({"accepted": accepted}), status=202, content_type="application/json")

    return app


async def run(bind: str) -> None:
    await serve_app(create_app(), bind, stop_event(), Settings())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling_app", description=__doc__)
    parser.add_argument("--bind", required=True)
    uvloop.run(run(parser.parse_args().bind))


if __name__ == "__main__":
    main()
