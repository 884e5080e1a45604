"""Tiny, deterministic stand-ins for the real corpus and model, built by the tests themselves."""

from __future__ import annotations

import io
import json
import random
import tarfile
from pathlib import Path

# Traditional characters on purpose: the corpus builder must simplify them.
CHARSET = "春風花月山水雲天江南秋雨夜來人歸何處長門前樓上一時無見心中東西白日青山流落"
IRREGULAR = [
    ["春風花月山，水雲天。"],  # clauses of different lengths
    ["春風花月山水，雲天江南秋雨。夜來人歸何處，長門前樓上一。"],  # six-character lines
    ["春風花月山，水雲天江南。秋雨夜來人，歸何處長門。前樓上一時，無見心中東。"],  # six clauses
    ["春風花月Ab，水雲天江南。秋雨夜來人，歸何處長門。"],  # Latin letters
]


# The even lines end in one 平水韵 group: every 平 character of CHARSET with five more of its
# group (each only 平, in that group only), so a rhyme the search starts can always be finished —
# an eight-line poem rhymes four different characters.
RHYMES = [
    "春人新身尘真", "风中东同公红", "花家沙斜霞嗟", "山闲还关颜攀", "云君文群纷军", "天前年千烟然",
    "江窗双邦庞缸", "南堪谈甘含贪", "秋楼流头游愁", "来开梅台才杯", "归飞非微依稀", "何多歌波河他",
    "长香黄光方阳", "门言园元村翻", "时知诗谁随枝", "无须湖孤吾夫", "心今林金阴寻", "西溪鸡低携栖",
    "青亭星灵形零",
]  # fmt: skip


def _line(rng: random.Random, width: int, rhyme: str = "") -> str:
    body = "".join(rng.choice(CHARSET) for _ in range(width - bool(rhyme)))
    return body + (rng.choice(rhyme) if rhyme else "")


def fixture_poems(n: int = 400, seed: int = 0) -> list[list[str]]:
    """`n` regular poems (五言/七言, 4/8 lines) as chinese-poetry 'paragraphs' lists."""
    rng = random.Random(seed)
    poems = []
    for _ in range(n):
        width, lines, rhyme = rng.choice([5, 7]), rng.choice([4, 8]), rng.choice(RHYMES)
        pairs = [f"{_line(rng, width)}，{_line(rng, width, rhyme)}。" for _ in range(lines // 2)]
        poems.append(pairs)
    return poems


# Real-looking titles: serial suffixes to strip, generic ones to drop, annotations.
TITLES = ["春日", "秋思二首 其一", "送友人 二", "無題", "句", "江樓夜雨（一作夜泊）", "山中十首"]


def build_tarball(path: Path, n: int = 400, seed: int = 0) -> Path:
    """A chinese-poetry-shaped tarball: Tang and Song files, some junk poems, one duplicate."""
    poems = fixture_poems(n, seed)
    half = len(poems) // 2
    titles = [TITLES[i % len(TITLES)] for i in range(len(poems))]
    tang = [
        {"author": "甲", "title": t, "paragraphs": p}
        for t, p in zip(titles, poems[:half], strict=False)
    ]
    song = [
        {"author": "乙", "title": t, "paragraphs": p}
        for t, p in zip(titles[half:], poems[half:], strict=True)
    ]
    song += [{"author": "丙", "title": "雜", "paragraphs": p} for p in IRREGULAR]
    song.append(
        {"author": "丁", "title": "重", "paragraphs": poems[0]}
    )  # duplicate of a Tang poem
    song.append(
        {
            "author": "戊",
            "title": "注",
            "paragraphs": ["春風（一作雨）花月山，水雲天江南。", "秋雨夜來人，歸何處長門。"],
        }
    )
    members = {
        "package/dist/quantangshi/poet.tang.0.json": tang,
        "package/dist/quantangshi/poet.song.0.json": song,
        "package/dist/songci/ci.song.0.json": [{"paragraphs": ["不是詩。"]}],
        "package/package.json": {"name": "chinese-poetry", "version": "2.0.1"},
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            data = json.dumps(payload, ensure_ascii=False).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
