"""Writes loadtest/data/votes.json: 1000 votes for 2 bands x 2 albums, deterministic (fixed seed).

Like the seed's data set, year and rank are mostly strings; every fourth vote sends them as numbers,
because clients do both. Run: python loadtest/data/generate.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

ALBUMS = [
    ("Bohemia Suburbana", "Mis palabras", 1997),
    ("Bohemia Suburbana", "Imaginaria Sonora", 2015),
    ("Alux Nahual", "Rock chapin", 2014),
    ("Alux Nahual", "El Viaje", 2011),
]
COUNT = 1000
SEED = 202000343


def generate(count: int = COUNT, seed: int = SEED) -> list[dict[str, object]]:
    rng = random.Random(seed)
    votes: list[dict[str, object]] = []
    for index in range(count):
        band, album, year = rng.choice(ALBUMS)
        rank = round(rng.uniform(0, 10), 1)
        if index % 4 == 3:
            votes.append({"name": band, "album": album, "year": year, "rank": rank})
        else:
            votes.append({"name": band, "album": album, "year": str(year), "rank": f"{rank:.1f}"})
    return votes


if __name__ == "__main__":
    target = Path(__file__).with_name("votes.json")
    target.write_text(json.dumps(generate(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {COUNT} votes to {target}")
