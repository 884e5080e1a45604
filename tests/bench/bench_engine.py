"""Engine benchmark (prints numbers; not a test): generation latency, training throughput, matmul.

    python -m tests.bench.bench_engine [--model DIR] [--corpus DIR] [--seconds S]

Every speed is reported next to a baseline measured in the same process:
- generation: a greedy batch-1 decoder that calls the nn.LSTM module once per step and takes a
  full log-softmax (the pytorch-book gen_acrostic shape) on the same model;
- training: the same model and data with mixed-length batches padded to their longest poem.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from engine import Poet
from engine.model import CharLSTM, ModelConfig
from engine.poet import SHIPPED_MODEL
from engine.vocab import Vocab
from train.dataset import PoemBuckets, epoch_batches
from train.loop import autocast_for, train_step

HEADS = [
    "算法进阶",
    "春夏秋冬",
    "山高水长",
    "风花雪月",
    "一帆风顺",
    "万事如意",
    "学而时习",
    "天下太平",
    "明月清风",
    "龙马精神",
    "海阔天空",
    "花好月圆",
    "国泰民安",
    "心想事成",
    "岁岁平安",
    "青春无悔",
]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[
        min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))
    ]


def time_calls(fn, repeats: int) -> list[float]:
    times = []
    for i in range(repeats):
        t = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t) * 1000)
    return times


@torch.no_grad()
def greedy_module_baseline(poet: Poet, head: str, width: int) -> str:
    """pytorch-book style: batch 1, nn.LSTM module per step, full softmax, greedy."""
    model, vocab = poet.model, poet.vocab
    state, out = None, []
    for token in vocab.prefix(head):  # the theme (the head) as the default search reads it
        _, state = model(torch.tensor([[token]]), state)
    token = vocab.form_id(width)
    for i, ch in enumerate(head):
        for pos in range(width + 1):
            h, state = model(torch.tensor([[token]]), state)
            lp = model.log_probs(h[:, -1])[0]
            if pos == 0:
                token = vocab.id(ch)
            elif pos == width:
                token = vocab.period if i % 2 else vocab.comma
            else:
                lp[: vocab.first_char_id] = float("-inf")
                token = int(lp.argmax())
            out.append(vocab.tokens[token])
    return "".join(out)


DEFAULT = "default search 七言 (diverse + rerank)"


def bench_generation(poet: Poet, repeats: int) -> None:
    print(
        f"\n## generation — model {poet.model_version}, {torch.get_num_threads()} threads, "
        f"matmuls in {poet.stepper.precision}, {repeats} poems each"
    )

    def head(i: int) -> str:
        return HEADS[i % len(HEADS)]

    cases = {
        "default search 七言 (diverse + rerank)": lambda i: poet.acrostic(
            head(i), chars_per_line=7
        ),
        "beam-8 七言, no constraints": lambda i: poet.acrostic(
            head(i), chars_per_line=7, mode="beam", beam_size=8, rhyme=False, novelty=False
        ),
        "beam-8 七言, rhyme + novelty": lambda i: poet.acrostic(
            head(i), chars_per_line=7, mode="beam", beam_size=8
        ),
        "beam-8 七言, rhyme + strict tones + novelty": lambda i: poet.acrostic(
            head(i), chars_per_line=7, mode="beam", beam_size=8, tones="strict"
        ),
        "beam-8 五言, rhyme + novelty": lambda i: poet.acrostic(
            head(i), chars_per_line=5, mode="beam", beam_size=8
        ),
        "sample 七言 (T=0.8, top-p 0.9)": lambda i: poet.acrostic(
            head(i), chars_per_line=7, mode="sample", temperature=0.8, top_p=0.9, seed=i
        ),
        "baseline greedy nn.LSTM 七言": lambda i: greedy_module_baseline(poet, head(i), 7),
    }
    medians = {}
    for name, fn in cases.items():
        time_calls(fn, 5)  # warm-up
        med, p95 = percentiles(time_calls(fn, repeats))
        medians[name] = med
        print(f"{name:44s} median {med:7.2f} ms   p95 {p95:7.2f} ms")
    base = medians["baseline greedy nn.LSTM 七言"]
    for name in list(medians)[:4]:
        print(f"{name} vs baseline: {base / medians[name]:.2f}× faster")
    verdict = "within" if medians[DEFAULT] <= base else "OVER"
    print(f"speed budget: the default call is {verdict} the greedy baseline's time")


def load_texts(corpus: Path | None, vocab: Vocab, n: int = 30000) -> list[str]:
    """Real training poems when a corpus is built, else random poems of the real shapes."""
    if corpus and (corpus / "train.txt").exists():
        return (corpus / "train.txt").read_text(encoding="utf-8").split()[:n]
    rng = random.Random(0)
    chars = vocab.tokens[vocab.first_char_id :]
    texts = []
    for _ in range(n):
        width, lines = rng.choice([(5, 4), (7, 4), (5, 8), (7, 8)])
        texts.append(
            "".join("".join(rng.choices(chars, k=width)) + "，。"[i % 2] for i in range(lines))
        )
    return texts


def padded_batches(
    data: PoemBuckets, tokens_per_batch: int, seed: int
) -> list[tuple[torch.Tensor, int]]:
    """Baseline batching: poems of every length mixed, padded to the longest (pad = -100)."""
    rows = [r for b in data.buckets.values() for r in b]
    random.Random(seed).shuffle(rows)
    per = tokens_per_batch // max(len(r) for r in rows)
    out = []
    for i in range(0, len(rows), per):
        chunk = rows[i : i + per]
        L = max(len(r) for r in chunk)
        batch = torch.full((len(chunk), L), -100, dtype=torch.long)
        for j, r in enumerate(chunk):
            batch[j, : len(r)] = r
        out.append((batch, sum(len(r) - 1 for r in chunk)))
    return out


def padded_step(model: CharLSTM, optim: torch.optim.Optimizer, batch: torch.Tensor) -> None:
    inputs = batch[:, :-1].clamp(min=0)
    h, _ = model(inputs)
    loss = F.cross_entropy(model.out(h).flatten(0, 1), batch[:, 1:].flatten(), ignore_index=-100)
    optim.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optim.step()


def measure(steps, seconds: float) -> float:
    """Real (non-padding) predicted characters per second over `seconds` after 3 warm-up steps."""
    chars, started = 0, None
    for i, (run, n) in enumerate(steps):
        if i == 3:
            chars, started = 0, time.perf_counter()
        run()
        chars += n
        if started and time.perf_counter() - started >= seconds:
            break
    return chars / (time.perf_counter() - started)


def bench_training(
    vocab: Vocab, texts: list[str], shipped_cfg: ModelConfig, seconds: float
) -> None:
    print(
        f"\n## training throughput — {len(texts)} poems, vocabulary {len(vocab)}, {seconds:.0f} s each"
    )
    data = PoemBuckets(texts, vocab)
    configs = {
        "pytorch-book size 128/256, full softmax": ModelConfig(len(vocab), 128, 256, cutoffs=()),
        f"shipped config {shipped_cfg.embed_dim}/{shipped_cfg.hidden_dim}, cutoffs {list(shipped_cfg.cutoffs)}": shipped_cfg,
    }
    for name, cfg in configs.items():
        for amp in ("off", "bf16"):
            torch.manual_seed(0)
            model = CharLSTM(cfg).train()
            optim = torch.optim.Adam(model.parameters(), 1e-3)
            ctx = autocast_for(amp, torch.device("cpu"))
            bucketed = (
                (lambda b=b, m=model, o=optim, c=ctx: train_step(m, o, b, c), b[:, 1:].numel())
                for b in epoch_batches(data, 8192, 0, 0)
            )
            ours = measure(bucketed, seconds)
            label = f"{name}, {'fp32' if amp == 'off' else 'bf16 autocast'}"
            line = f"{label:70s} bucketed {ours:8,.0f} chars/s"
            if not model.adaptive and amp == "off":
                padded = (
                    (lambda b=b, m=model, o=optim: padded_step(m, o, b), n)
                    for b, n in padded_batches(data, 8192, 0)
                )
                base = measure(padded, seconds)
                line += f"   padded baseline {base:8,.0f} chars/s ({ours / base:.2f}×)"
            print(line)


def bench_matmul() -> None:
    a = torch.randn(1024, 1024)
    times = time_calls(lambda _: a @ a, 30)
    med = statistics.median(times) / 1000
    print(
        f"\n## machine — fp32 matmul 1024×1024: {2 * 1024**3 / med / 1e9:,.0f} GFLOP/s (median of 30)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    bench_matmul()
    poet = Poet.load(args.model)
    bench_generation(poet, args.repeats)
    bench_training(poet.vocab, load_texts(args.corpus, poet.vocab), poet.model.cfg, args.seconds)


if __name__ == "__main__":
    main()
