"""The learning loop measured by hand: poems asked for through the real command core, rated by
blind raters standing in for group members, then `acrostic retrain` on them.

    python -m tests.bench.learning_loop ask  --db URL --out DIR [--n 200]   # poems + a sheet
    python -m tests.bench.learning_loop rate --db URL --out DIR             # DIR/ratings-*.txt
    CANGTOU_DATABASE_URL=URL acrostic retrain                               # then, as usual

`ask` writes the poems as 20 different authors would, for heads drawn from corpus titles (never
a public or held-out head), and a blind sheet (the head, as a chat shows it, and the poem; no
source, no model) with its key. `rate` reads one ratings file per rater (lines `id: stars`) and
stores each rater's stars as a group member other than the author, through the ★ buttons.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
from pathlib import Path

from bot.base.settings import Settings
from bot.chat.core import Actor
from bot.chat.parsing import to_base36
from bot.runtime.app import build_core
from train.cliches import title_pool
from train.corpus import read_themed

GROUP = "-100"
RUBRIC = """# Rate each acrostic as a member of a chat group who asked for it

Each block shows the head phrase someone typed and the poem a bot answered with: a classical
Chinese acrostic whose lines begin with the head's characters. Rate each poem 1–5 stars the way
a reader who cares about poetry would: fluency, coherence, meaning, and how well it suits the
head phrase (5 = a poem you would gladly share; 3 = passable; 1 = broken or meaningless).
Answer one line per id, exactly `ID: N`, nothing else.
"""


def settings(db: str) -> Settings:
    """The bot's settings with a busy group's limits out of the way (200 requests at once)."""
    limits = {"user_burst": 1000, "chat_burst": 1000}
    return Settings(database_url=db, limits=limits)


def authors(n: int = 20) -> list[Actor]:
    return [Actor("telegram", str(1000 + i), GROUP, f"author{i}", "group") for i in range(n)]


def raters() -> list[Actor]:
    return [Actor("telegram", str(2000 + i), GROUP, f"rater{i}", "group") for i in range(2)]


async def ask(db: str, out: Path, n: int, corpus: Path, seed: int) -> None:
    core = build_core(settings(db), processes=False)
    pool = title_pool(theme for theme, _ in read_themed(corpus, "train"))
    rng = random.Random(seed)
    heads = [h for h in rng.sample(pool, n * 4) if len(h) == 4][:n]
    writers, key, blocks = authors(), {}, []
    try:
        for i, head in enumerate(heads):
            form = "五言" if i % 4 == 3 else "七言"  # mostly 七言, as people ask
            reply = await core.command(writers[i % len(writers)], f"/acrostic {head} {form}")
            if reply.poem_id is None:
                continue
            pid = f"p{rng.randrange(10**6):06d}"
            key[pid] = {"request_id": reply.poem_id, "head": head}
            poem = "\n".join(s for s in reply.text.splitlines() if s.endswith(("，", "。")))
            blocks.append(f"## {pid}\n\nHead phrase: {head}\n\n{poem}\n")
    finally:
        await core.close()
    out.mkdir(parents=True, exist_ok=True)
    for rater in (1, 2):  # two raters, each on a differently shuffled sheet
        rng.shuffle(blocks)
        sheet = RUBRIC + "\n# Poems\n\n" + "\n".join(blocks)
        (out / f"sheet-{rater}.md").write_text(sheet, "utf-8")
    (out / "key.json").write_text(json.dumps(key, ensure_ascii=False, indent=1), "utf-8")
    print(f"{len(key)} poems; sheets {out}/sheet-1.md and sheet-2.md, key {out / 'key.json'}")


async def rate(db: str, out: Path) -> None:
    key = json.loads((out / "key.json").read_text("utf-8"))
    files = sorted(out.glob("ratings-*.txt"))
    core = build_core(settings(db), processes=False)
    both: dict[str, list[int]] = {}
    try:
        for rater, path in zip(raters(), files, strict=False):
            for pid, stars in re.findall(r"^(p\d{6}):\s*([1-5])\s*$", path.read_text(), re.M):
                await core.callback(rater, f"r:{to_base36(key[pid]['request_id'])}:{stars}")
                both.setdefault(pid, []).append(int(stars))
    finally:
        await core.close()
    kept = [pid for pid, s in both.items() if len(s) == 2 and sum(s) / 2 >= 4]
    print(f"{len(files)} raters, {len(both)} poems rated, {len(kept)} with a mean ≥ 4★ from both")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["ask", "rate"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.step == "ask":
        asyncio.run(ask(args.db, args.out, args.n, args.corpus, args.seed))
    else:
        asyncio.run(rate(args.db, args.out))


if __name__ == "__main__":
    main()
