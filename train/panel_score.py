"""Scoring a blind panel: the raters' answer files read against the key, means, agreement and
Wilson intervals (train/panel.py makes the sheets)."""

from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path

_SEPARATORS = re.compile(r"[\s,:;|`*]+")


def _value(kind: str, values: list[str]) -> tuple | None:
    """The answer on one line, or None where it doesn't fit the id's sheet."""
    if kind == "pair":
        verdict = values[0].upper() if len(values) == 1 else ""
        return (verdict,) if verdict in ("A", "B", "=") else None
    try:
        numbers = tuple(float(v) for v in values)
    except ValueError:
        return None
    wanted = 4 if kind == "quality" else 1
    return numbers if len(numbers) == wanted and all(1 <= x <= 5 for x in numbers) else None


def parse_ratings(text: str, kinds: dict[str, str], name: str = "ratings") -> tuple[dict, list]:
    """Answers by id (kinds: id → quality, relevance or pair) and one note per skipped line."""
    answers: dict[str, tuple] = {}
    problems = []
    for number, raw in enumerate(text.splitlines(), 1):
        tokens = [t for t in _SEPARATORS.split(raw) if t]
        if not tokens or tokens[0].startswith("#"):
            continue
        pid, values = tokens[0].upper(), tokens[1:]
        value = _value(kinds[pid], values) if pid in kinds else None
        if pid not in kinds:
            problem = "unknown id"
        elif value is None:
            problem = "not in the answer format"
        elif pid in answers:
            problem = "id answered twice, first answer kept"
        else:
            answers[pid] = value
            continue
        problems.append(f"{name}:{number}: {problem}: `{raw.strip()}`")
    return answers, problems


def wilson_interval(wins: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (95% at z = 1.96)."""
    if n == 0:
        return 0.0, 1.0
    p, z2 = wins / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.2f}" if values else "—"


def _means_table(sources: list[str], rated: list[tuple[dict, tuple]]) -> list[str]:
    lines = ["| source | fluency | coherence | meaning | overall | n | relevance | n rel |"]
    lines.append("|---|---|---|---|---|---|---|---|")
    for source in sources:
        quality = [v for entry, v in rated if entry["source"] == source and len(v) == 4]
        relevance = [v[0] for entry, v in rated if entry["source"] == source and len(v) == 1]
        means = [_mean([q[i] for q in quality]) for i in range(4)]
        row = [source, *means, str(len(quality)), _mean(relevance), str(len(relevance))]
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def _agreement(names: list[str], rated: list[list[tuple[dict, tuple]]]) -> list[str]:
    """Overall scores of the same poems by two rating files: Pearson r, mean absolute gap."""
    lines = ["### Agreement (overall)", "", "| files | poems | Pearson r | mean abs diff |"]
    lines.append("|---|---|---|---|")
    overall = [
        {(e["source"], e["head"], e["text"]): v[3] for e, v in one if len(v) == 4} for one in rated
    ]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            common = sorted(overall[i].keys() & overall[j].keys())
            if not common:
                continue
            x, y = [overall[i][c] for c in common], [overall[j][c] for c in common]
            try:
                r = f"{statistics.correlation(x, y):.2f}"
            except statistics.StatisticsError:  # under two poems, or one file's scores all equal
                r = "—"
            gap = statistics.fmean(abs(p - q) for p, q in zip(x, y, strict=True))
            lines.append(f"| {names[i]} vs {names[j]} | {len(common)} | {r} | {gap:.2f} |")
    return [*lines, ""] if len(lines) > 4 else []


def _read(path: Path, entries: dict, problems: list[str]) -> dict[str, tuple]:
    kinds = {pid: entry.get("kind", "pair") for pid, entry in entries.items()}
    answers, skipped = parse_ratings(path.read_text(encoding="utf-8"), kinds, path.name)
    problems += skipped
    return answers


def _sheet_section(key: dict, files: list[Path], problems: list[str]) -> list[str]:
    out = ["## Means by source (1–5)", ""]
    if not files:
        return [*out, "No rating files (ratings*.txt) yet.", ""]
    rated = []
    for path in files:
        answers = _read(path, key["ids"], problems)
        rated.append([(key["ids"][pid], value) for pid, value in answers.items()])
        out += [f"### {path.name}", "", *_means_table(key["sources"], rated[-1])]
    if len(files) > 1:
        every = [item for one in rated for item in one]
        out += ["### All rating files", "", *_means_table(key["sources"], every)]
        out += _agreement([p.name for p in files], rated)
    return out


def _pairs_section(key: dict, files: list[Path], problems: list[str]) -> list[str]:
    out = [f"## Pairs: {key['b']} (B set) against {key['a']} (A set)", ""]
    if not files:
        return [*out, "No pair rating files (pairs_ratings*.txt) yet.", ""]
    out += ["| file | wins | losses | ties | win rate | 95% Wilson interval | verdict |"]
    out += ["|---|---|---|---|---|---|---|"]
    for path in files:
        answers = _read(path, key["pairs"], problems)
        picks = [key["pairs"][pid][v[0]] if v[0] != "=" else "=" for pid, v in answers.items()]
        wins, losses = picks.count(key["b"]), picks.count(key["a"])
        low, high = wilson_interval(wins, wins + losses)
        rate = f"{wins / (wins + losses):.2f}" if wins + losses else "—"
        verdict = "win" if low > 0.5 else "loss" if high < 0.5 else "no clear winner"
        cells = [path.name, wins, losses, picks.count("="), rate, f"{low:.2f}–{high:.2f}", verdict]
        out.append("| " + " | ".join(map(str, cells)) + " |")
    return [*out, "", "Win rate = wins / (wins + losses); ties are left out.", ""]


def score(
    directory: Path, ratings: list[Path] | None = None, pairs: list[Path] | None = None
) -> str:
    """A panel's results as markdown: means by source, rater agreement, pair win rates.

    RATINGS and PAIRS default to DIR/ratings*.txt and DIR/pairs_ratings*.txt."""
    key, pairs_key = directory / "key.json", directory / "pairs_key.json"
    if not key.exists() and not pairs_key.exists():
        raise ValueError(f"{directory} has neither key.json nor pairs_key.json")
    if (ratings and not key.exists()) or (pairs and not pairs_key.exists()):
        raise ValueError(f"{directory} has no key for those ratings")
    out, problems = [f"# Panel scores: {directory.name}", ""], []
    if key.exists():
        files = sorted(directory.glob("ratings*.txt")) if ratings is None else ratings
        out += _sheet_section(json.loads(key.read_text(encoding="utf-8")), files, problems)
    if pairs_key.exists():
        files = sorted(directory.glob("pairs_ratings*.txt")) if pairs is None else pairs
        out += _pairs_section(json.loads(pairs_key.read_text(encoding="utf-8")), files, problems)
    if problems:
        out += ["## Skipped lines", "", *(f"- {p}" for p in problems), ""]
    return "\n".join(out)
