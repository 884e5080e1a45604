"""The training loop: bucketed batches, time-budgeted cosine LR, validation, atomic best saves."""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import torch
from tqdm import tqdm

from engine.checkpoint import load_model_dir, resave, save_model_dir
from engine.model import CharLSTM, ModelConfig
from engine.novelty import corpus_line_hashes
from engine.vocab import Vocab
from train.corpus import corpus_fingerprint, read_split
from train.dataset import PoemBuckets, epoch_batches
from train.state import TrainState, load_state, save_state

log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    corpus: Path
    out: Path
    embed_dim: int = 256
    hidden_dim: int = 512
    dropout: float = 0.1
    cutoffs: tuple[int, ...] = (2000, 5000)
    lr: float = 2e-3
    tokens_per_batch: int = 8192
    epochs: int = 1000
    max_minutes: float | None = None
    max_steps: int | None = None  # stop early (resumable) without changing the LR schedule
    eval_minutes: float = 5.0
    seed: int = 0
    resume: bool = False
    dry_run: bool = False
    device: str = "auto"
    amp: str = "auto"  # "bf16" autocast, "off", or "auto" (bf16 on CUDA, off on CPU)
    min_count: int = 2
    extra_texts: list[str] = field(default_factory=list)
    progress: bool = True

    @property
    def state_dir(self) -> Path:
        return self.out.parent / f"{self.out.name}.state"


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.no_grad()
def evaluate(
    model: CharLSTM, data: PoemBuckets, device: torch.device, tokens_per_batch: int = 16384
) -> float:
    """Mean negative log-likelihood in nats per predicted token (the training framing)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in data.batches(tokens_per_batch):
        batch = batch.to(device)
        h, _ = model(batch[:, :-1])
        total += model.nll(h.float(), batch[:, 1:]).item()
        count += batch[:, 1:].numel()
    model.train(was_training)
    return total / max(count, 1)


def autocast_for(amp: str, device: torch.device):
    """The autocast context for a training step, or None for full fp32."""
    if amp not in ("auto", "bf16", "off"):
        raise ValueError("amp must be auto, bf16 or off")
    if amp == "bf16" or (amp == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return None


def train_step(
    model: CharLSTM, optim: torch.optim.Optimizer, batch: torch.Tensor, amp=None
) -> tuple[float, int]:
    """One optimisation step on a (B, L) batch; returns (mean loss, predicted tokens)."""
    with amp or torch.autocast("cpu", enabled=False):
        h, _ = model(batch[:, :-1])
        n = batch[:, 1:].numel()
        loss = model.nll(h.float(), batch[:, 1:]) / n
    optim.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optim.step()
    return loss.item(), n


def learning_rate(opts: TrainOptions, state: TrainState, total_steps: int) -> float:
    """Linear warm-up, then cosine decay to 5% over the time budget (or the step budget)."""
    warmup = 300
    if state.step < warmup:
        return opts.lr * (state.step + 1) / warmup
    if opts.max_minutes:
        frac = state.elapsed_s / (opts.max_minutes * 60)
    else:
        frac = state.step / max(total_steps, 1)
    return opts.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def _model_meta(opts: TrainOptions, state: TrainState, fingerprint: str, extra: dict) -> dict:
    return {
        "version": opts.out.name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "corpus_fingerprint": fingerprint,
        "parent": None,
        "training": {
            "seed": opts.seed,
            "steps": state.step,
            "epochs": round(state.chars_seen / max(extra.get("train_targets", 1), 1), 3),
            "chars_seen": state.chars_seen,
            "minutes": round(state.elapsed_s / 60, 2),
            "lr": opts.lr,
            "tokens_per_batch": opts.tokens_per_batch,
        },
        "metrics": {"val_nats_per_char": round(state.best_val, 4), "curve": state.curve},
    }


def train(opts: TrainOptions) -> dict:
    """Train (or resume) a model; return a summary. The best model is saved to opts.out."""
    torch.manual_seed(opts.seed)
    device = pick_device(opts.device)
    train_texts = read_split(opts.corpus, "train") + list(opts.extra_texts)
    val_texts = read_split(opts.corpus, "val")
    vocab = Vocab.build(train_texts, opts.min_count)
    cfg = ModelConfig(
        len(vocab), opts.embed_dim, opts.hidden_dim, 2, opts.dropout, tuple(opts.cutoffs)
    )
    train_data, val_data = PoemBuckets(train_texts, vocab), PoemBuckets(val_texts, vocab)
    model = CharLSTM(cfg).to(device)
    optim = torch.optim.Adam(model.parameters(), lr=opts.lr)
    state = TrainState()
    if opts.resume and (opts.state_dir / "state.json").exists():
        state = load_state(opts.state_dir, model, optim)
        log.info("resumed at step %d (%.1f min)", state.step, state.elapsed_s / 60)
    steps_per_epoch = len(train_data.batches(opts.tokens_per_batch))
    total_steps = steps_per_epoch * opts.epochs
    amp = autocast_for(opts.amp, device)
    budget_s = (opts.max_minutes or 0) * 60
    bar = tqdm(
        total=round(budget_s) if budget_s else total_steps,
        unit="s" if budget_s else "step",
        disable=not opts.progress,
        dynamic_ncols=True,
        mininterval=1.0 if sys.stderr.isatty() else 60.0,
        initial=round(state.elapsed_s) if budget_s else state.step,
    )
    started = time.perf_counter() - state.elapsed_s
    last_eval, window_chars, window_t0, loss_avg = state.elapsed_s, 0, time.perf_counter(), None
    fingerprint = corpus_fingerprint(opts.corpus)
    extra = {"train_targets": train_data.targets}
    model.train()
    done = False
    while not done and state.epoch < opts.epochs:
        for i, batch in enumerate(
            epoch_batches(train_data, opts.tokens_per_batch, opts.seed, state.epoch)
        ):
            if i < state.batch_in_epoch:
                continue
            for group in optim.param_groups:
                group["lr"] = learning_rate(opts, state, total_steps)
            value, n = train_step(model, optim, batch.to(device, non_blocking=True), amp)
            state.step += 1
            state.batch_in_epoch = i + 1
            state.chars_seen += n
            window_chars += n
            state.elapsed_s = time.perf_counter() - started
            loss_avg = value if loss_avg is None else 0.98 * loss_avg + 0.02 * value
            now = time.perf_counter()
            rate = window_chars / max(now - window_t0, 1e-9)
            if now - window_t0 > 30:
                window_chars, window_t0 = 0, now
            bar.set_postfix(
                loss=f"{loss_avg:.3f}",
                chars_s=f"{rate:,.0f}",
                best=f"{state.best_val:.3f}",
                refresh=False,
            )
            bar.update((round(state.elapsed_s) - bar.n) if budget_s else 1)
            out_of_time = (budget_s and state.elapsed_s >= budget_s) or (
                opts.max_steps is not None and state.step >= opts.max_steps
            )
            if opts.dry_run and state.step >= 2:
                done = True
                break
            if out_of_time or state.elapsed_s - last_eval >= opts.eval_minutes * 60:
                last_eval = state.elapsed_s
                _validate_and_save(
                    opts,
                    model,
                    optim,
                    vocab,
                    val_data,
                    device,
                    state,
                    loss_avg,
                    fingerprint,
                    extra,
                )
                if out_of_time:
                    done = True
                    break
        else:
            state.epoch += 1
            state.batch_in_epoch = 0
            if not opts.dry_run:  # validate at every epoch end as well
                last_eval = state.elapsed_s
                _validate_and_save(
                    opts,
                    model,
                    optim,
                    vocab,
                    val_data,
                    device,
                    state,
                    loss_avg,
                    fingerprint,
                    extra,
                )
    if opts.dry_run:
        val = evaluate(model, val_data, device)
        bar.close()
        return {
            "dry_run": True,
            "steps": state.step,
            "train_loss": loss_avg,
            "val_nats_per_char": val,
        }
    if not state.curve or state.curve[-1]["step"] != state.step:
        _validate_and_save(
            opts, model, optim, vocab, val_data, device, state, loss_avg, fingerprint, extra
        )
    bar.close()
    return finish(opts, device)


def _validate_and_save(
    opts, model, optim, vocab, val_data, device, state, loss_avg, fingerprint, extra
) -> None:
    val = evaluate(model, val_data, device)
    state.curve.append(
        {
            "minutes": round(state.elapsed_s / 60, 2),
            "step": state.step,
            "chars_seen": state.chars_seen,
            "train_loss": round(loss_avg, 4) if loss_avg is not None else None,
            "val_nats_per_char": round(val, 4),
        }
    )
    log.info("step %d  %.1f min  val %.4f nats/char", state.step, state.elapsed_s / 60, val)
    if val < state.best_val:
        state.best_val = val
        save_model_dir(opts.out, model, vocab, _model_meta(opts, state, fingerprint, extra))
    else:  # keep the saved model, refresh its learning curve
        _update_curve(opts.out, state.curve)
    save_state(opts.state_dir, model, optim, state)


def _update_curve(out: Path, curve: list[dict]) -> None:
    loaded = load_model_dir(out)
    resave(loaded, {"metrics": {**loaded.meta["metrics"], "curve": curve}})


def finish(opts: TrainOptions, device: torch.device) -> dict:
    """Measure the saved best model on the test split; record it and the corpus line index."""
    loaded = load_model_dir(opts.out)
    test = PoemBuckets(read_split(opts.corpus, "test"), loaded.vocab)
    test_nats = evaluate(loaded.model.to(device), test, device)
    loaded.model.cpu()
    metrics = {
        **loaded.meta["metrics"],
        "test_nats_per_char": round(test_nats, 4),
        "test_perplexity": round(math.exp(test_nats), 2),
        "test_targets": test.targets,
    }
    resave(loaded, {"metrics": metrics}, line_index(opts.corpus, opts.extra_texts))
    return {"out": str(opts.out), **metrics, "curve": len(metrics["curve"])}


def line_index(corpus: Path, extra_texts: list[str] = ()) -> torch.Tensor:
    """Hashes of every line of every split (and of the extra texts), for the novelty guard."""
    poems = [p for split in ("train", "val", "test") for p in read_split(corpus, split)]
    return corpus_line_hashes([*poems, *extra_texts])
