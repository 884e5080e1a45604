"""Write an evaluation report: report.json, report.md and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

BARS = [
    ("format_rate", "format"),
    ("rhyme_rate", "rhyme"),
    ("even_ping_rate", "even lines ping"),
    ("tone_agreement", "tones 2/4/6"),
    ("novel_line_rate", "novel lines"),
]


def write_report(report: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    return [out / "report.json", out / "report.md", *plot(report, out)]


COUNTS = {
    "repeated_chars_per_poem",
    "same_rhyme_char_poems",
    "theme_information",
}  # shown as numbers, everything else as percentages


def _fmt(value, key: str = "") -> str:
    if value is None:
        return "—"
    return str(value) if key in COUNTS else f"{value:.2%}"


def render_markdown(r: dict) -> str:
    modes, human = r["modes"], r["human_reference"]
    rows = [
        ("format compliance", "format_rate"),
        ("rhyme rate (平水韵, attested readings)", "rhyme_rate"),
        ("rhyme rate (any reading in the table)", "rhyme_rate_any_reading"),
        ("even-line 平 rate", "even_ping_rate"),
        ("二四六 tone agreement", "tone_agreement"),
        ("repeated characters / poem", "repeated_chars_per_poem"),
        ("shared 3-gram rate (in ≥ 3 poems)", "shared_trigram_rate"),
        ("poems repeating a rhyme character", "same_rhyme_char_poems"),
        ("theme information (nats/char)", "theme_information"),
        ("copied-line rate", "copied_line_rate"),
        ("distinct-2", "distinct_2"),
    ]
    head = "| metric | " + " | ".join(modes) + " | real poems (test split) |"
    lines = [
        f"# Evaluation of `{r['model_version']}`",
        "",
        f"{r['heads']} heads from the public heads file, {'七言' if r['chars_per_line'] == 7 else '五言'}, "
        f"{r['threads']} CPU threads.",
        "",
        f"- test-split cross-entropy: **{r['test_nats_per_char']} nats/char** "
        f"(perplexity {r['test_perplexity']})",
        f"- cross-entropy cost of the constraints (beam 8, rhyme + novelty vs none): "
        f"{r['constraint_cost_nats_per_char']} nats/char",
        "",
        head,
        "|" + "---|" * (len(modes) + 2),
    ]
    for label, key in rows:
        cells = [_fmt(m.get(key), key) for m in modes.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {_fmt(human.get(key), key)} |")
    lat = [f"{m['latency_ms']['median']} / {m['latency_ms']['p95']}" for m in modes.values()]
    lines.append("| latency ms (median / p95) | " + " | ".join(lat) + " | |")
    lines += ["", "Modes: " + ", ".join(f"`{k}`" for k in modes), ""]
    return "\n".join(lines) + "\n"


def plot(report: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = report["modes"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, m in modes.items():
        ax.hist(m["latencies"], bins=30, alpha=0.55, label=name)
    ax.set_xlabel("ms per poem")
    ax.set_ylabel("poems")
    ax.set_title("Generation latency")
    ax.legend()
    fig.tight_layout()
    latency = out / "latency.png"
    fig.savefig(latency, dpi=110)
    plt.close(fig)

    groups = {**modes, "real poems": report["human_reference"]}
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(groups)
    for g, (name, m) in enumerate(groups.items()):
        values = [_bar_value(m, key) for key, _ in BARS]
        ax.bar([i + g * width for i in range(len(BARS))], values, width, label=name)
    ax.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(BARS))])
    ax.set_xticklabels([label for _, label in BARS])  # ASCII: no CJK font is assumed
    ax.set_ylim(0, 1.05)
    ax.set_title("Compliance by decoding mode")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    compliance = out / "compliance.png"
    fig.savefig(compliance, dpi=110)
    plt.close(fig)
    paths = [latency, compliance]
    curve = report.get("learning_curve") or []
    if curve:
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot([p["minutes"] for p in curve], [p["val_nats_per_char"] for p in curve], marker="o")
        ax.set_xlabel("training minutes")
        ax.set_ylabel("validation nats per character")
        ax.set_title("Learning curve")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        paths.append(out / "learning_curve.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def _bar_value(metrics: dict, key: str) -> float:
    if key == "novel_line_rate":
        copied = metrics.get("copied_line_rate")
        return 0.0 if copied is None else 1 - copied
    return metrics.get(key) or 0.0
