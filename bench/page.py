"""`python -m bench.page` (part of `make bench`): how soon the live results page shows new votes.

The page's target is under 2 s from the last vote answered 202 to the votes on the page (the test,
tests/test_page.py, only checks that they appear). This starts the four services over the local stack
(`make stack`) with topics, a consumer group, Redis database BENCH_PIPELINE and a MongoDB database of its own,
opens the page in headless Chromium, casts the known votes and prints the time, over a few rounds.
"""

from __future__ import annotations

import argparse
import json
import time

from bench.harness import bench_settings
from bench.stats import median
from votemon.dev.browser import OUTPUT, cast_known_votes, chromium, viewer
from votemon.dev.pipeline import running_pipeline

TARGET_S = 2.0
GIVE_UP_S = 30.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.page", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    seconds = []
    with running_pipeline(bench_settings()) as pipeline, chromium() as browser:
        for _ in range(args.rounds):
            with viewer(browser, pipeline.results) as tab:
                tab.wait_state("live", timeout_s=GIVE_UP_S)
                cast = cast_known_votes(pipeline)
                answered = time.monotonic()
                tab.wait_for_votes(cast, timeout_s=GIVE_UP_S)
                seconds.append(time.monotonic() - answered)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "latency.json").write_text(json.dumps({"after_last_vote_s": seconds}))
    verdict = "within" if median(seconds) < TARGET_S else "OVER"
    print(
        f"page: new votes shown {median(seconds):.2f} s (median of {len(seconds)}; "
        f"{min(seconds):.2f}-{max(seconds):.2f} s) after the last was answered 202: "
        f"{verdict} the {TARGET_S:.0f} s target"
    )


if __name__ == "__main__":
    main()
