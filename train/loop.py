"""The training loop: bucketed batches, time-budgeted cosine LR, validation, atomic best saves."""

from __future__ import annotations

import logging
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from tqdm import tqdm

from engine.checkpoint import load_model_dir, resave, save_model_dir
from engine.model import CharLSTM, ModelConfig
from engine.novelty import corpus_line_hashes
from engine.vocab import Vocab
from train import distributed
from train.corpus import corpus_fingerprint, read_split, read_themed
from train.dataset import PoemBuckets, epoch_batches, poem_nll, poem_start
from train.options import TrainOptions, new_tokens, pick_device, split_items
from train.state import TrainState, load_state, save_state
from train.warmstart import grow

log = logging.getLogger(__name__)


@torch.no_grad()
def evaluate(
    model: CharLSTM, data: PoemBuckets, device: torch.device, tokens_per_batch: int = 16384
) -> float:
    """Mean negative log-likelihood in nats per predicted token (the training framing)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in data.batches(tokens_per_batch):
        nll, n = poem_nll(model, batch.to(device))
        total += nll.item()
        count += n
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
    model: CharLSTM, optim: torch.optim.Optimizer, batch: torch.Tensor, amp=None, ddp=None
) -> tuple[float, int]:
    """One optimisation step on a (B, L) batch; returns (mean loss, predicted tokens).
    Under torchrun `ddp` is the DistributedDataParallel loss module, which averages gradients."""
    with amp or torch.autocast("cpu", enabled=False):
        n = int((batch[:, poem_start(batch) + 1 :] >= 0).sum())  # poem tokens, no keywords
        loss = (ddp(batch) if ddp is not None else poem_nll(model, batch)[0]) / n
    optim.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optim.step()
    return loss.item(), n


def learning_rate(opts: TrainOptions, state: TrainState, total_steps: int) -> float:
    """Linear warm-up, then cosine decay to 5% over the time budget (or the step budget)."""
    warmup = 30 if opts.init_from else 300  # a warm start needs little warm-up
    if state.step < warmup:
        return opts.lr * (state.step + 1) / warmup
    if opts.max_minutes:
        frac = state.elapsed_s / (opts.max_minutes * 60)
    else:
        frac = state.step / max(total_steps, 1)
    return opts.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def _model_meta(opts: TrainOptions, state: TrainState, fingerprint: str, targets: int) -> dict:
    return {
        "version": opts.out.name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "corpus_fingerprint": fingerprint,
        "parent": None,
        "training": {
            "seed": opts.seed,
            "steps": state.step,
            "epochs": round(state.chars_seen / max(targets, 1), 3),
            "chars_seen": state.chars_seen,
            "minutes": round(state.elapsed_s / 60, 2),
            "lr": opts.lr,
            "tokens_per_batch": opts.tokens_per_batch,
        },
        "metrics": {"val_nats_per_char": round(state.best_val, 4), "curve": state.curve},
    }


class Trainer:
    """One training run: data, model, optimiser, progress bar and the resumable state."""

    def __init__(self, opts: TrainOptions):
        self.opts = opts
        torch.manual_seed(opts.seed)  # the same initial weights on every rank
        self.ranks, rank_device = distributed.setup(opts.device)
        self.device = rank_device or pick_device(opts.device)
        train_items = split_items(opts, "train") + list(opts.extra_texts)
        self.parent = None
        if opts.init_from is not None:  # same vocabulary, so ids never change between versions
            base = load_model_dir(opts.init_from)
            self.vocab, self.model, self.parent = base.vocab, base.model.float(), base.version
            if opts.themes:
                self.model, self.vocab = grow(self.model, self.vocab, *new_tokens(opts))
        else:
            texts = (item if isinstance(item, str) else item[1] for item in train_items)
            self.vocab = Vocab.build(texts, opts.min_count)
            self.vocab = self.vocab.with_tokens(*new_tokens(opts)) if opts.themes else self.vocab
            cfg = ModelConfig(
                len(self.vocab), opts.embed_dim, opts.hidden_dim, 2, opts.dropout,
                tuple(opts.cutoffs),
            )  # fmt: skip
            self.model = CharLSTM(cfg)
        self.model.to(self.device)
        self.ddp = distributed.wrap(self.model, self.ranks, self.device)
        drops = (opts.theme_dropout, opts.seed, opts.keyword_dropout)
        self.train_data = PoemBuckets(train_items, self.vocab, *drops)
        # validation sees plans dropped as training does; the test split (finish, gate) is plain
        self.val_data = PoemBuckets(split_items(opts, "val"), self.vocab, 0.0, *drops[1:])
        self.optim = torch.optim.Adam(self.model.parameters(), lr=opts.lr)
        self.state = TrainState()
        if opts.resume and (opts.state_dir / "state.json").exists():
            self.state = load_state(opts.state_dir, self.model, self.optim)
            log.info("resumed at step %d (%.1f min)", self.state.step, self.state.elapsed_s / 60)
        per_epoch = len(self.train_data.batches(opts.tokens_per_batch)) // self.ranks.world
        self.total_steps = per_epoch * opts.epochs
        self.budget_s = (opts.max_minutes or 0) * 60
        self.fingerprint = corpus_fingerprint(opts.corpus)
        self.loss_avg: float | None = None

    def run(self) -> dict:
        """Train until the epochs, the time budget or max_steps run out; then finish()."""
        opts, state = self.opts, self.state
        amp = autocast_for(opts.amp, self.device)
        bar = self._progress_bar()
        started = time.perf_counter() - state.elapsed_s
        last_eval, meter = state.elapsed_s, _Throughput()
        self.model.train()
        while state.epoch < opts.epochs:
            batches = distributed.shard(
                list(
                    epoch_batches(self.train_data, opts.tokens_per_batch, opts.seed, state.epoch)
                ),
                self.ranks,
            )
            for i, batch in enumerate(batches):
                if i < state.batch_in_epoch:
                    continue
                for group in self.optim.param_groups:
                    group["lr"] = learning_rate(opts, state, self.total_steps)
                loss, n = train_step(self.model, self.optim, batch.to(self.device), amp, self.ddp)
                state.step, state.batch_in_epoch = state.step + 1, i + 1
                state.chars_seen += n * self.ranks.world  # every rank saw about as many
                state.elapsed_s = time.perf_counter() - started
                self.loss_avg = (
                    loss if self.loss_avg is None else 0.98 * self.loss_avg + 0.02 * loss
                )
                bar.set_postfix(
                    loss=f"{self.loss_avg:.3f}",
                    chars_s=f"{meter.add(n):,.0f}",
                    best=f"{state.best_val:.3f}",
                    refresh=False,
                )
                bar.update((round(state.elapsed_s) - bar.n) if self.budget_s else 1)
                if opts.dry_run and state.step >= 2:
                    bar.close()
                    distributed.teardown(self.ranks)
                    val = evaluate(self.model, self.val_data, self.device)
                    return {
                        "dry_run": True,
                        "steps": state.step,
                        "train_loss": self.loss_avg,
                        "val_nats_per_char": val,
                    }
                stop = distributed.any_rank(self._out_of_budget(), self.ranks)
                if stop or state.elapsed_s - last_eval >= opts.eval_minutes * 60:
                    last_eval = state.elapsed_s
                    self.validate_and_save()
                if stop:
                    bar.close()
                    return self._finish()
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            last_eval = state.elapsed_s
            self.validate_and_save()  # every epoch end as well
        bar.close()
        return self._finish()

    def _finish(self) -> dict:
        """Rank 0 measures and records the saved model; the others wait for it and leave."""
        summary = (
            finish(self.opts, self.device) if self.ranks.is_main else {"rank": self.ranks.rank}
        )
        distributed.barrier(self.ranks)
        self.ddp = None  # the DDP reducer must go before its process group does
        distributed.teardown(self.ranks)
        return summary

    def _out_of_budget(self) -> bool:
        state = self.state
        out_of_time = bool(self.budget_s) and state.elapsed_s >= self.budget_s
        return out_of_time or (
            self.opts.max_steps is not None and state.step >= self.opts.max_steps
        )

    def _progress_bar(self) -> tqdm:
        state = self.state
        return tqdm(
            total=round(self.budget_s) if self.budget_s else self.total_steps,
            unit="s" if self.budget_s else "step",
            disable=not self.opts.progress or not self.ranks.is_main,
            dynamic_ncols=True,
            mininterval=1.0 if sys.stderr.isatty() else 60.0,
            initial=round(state.elapsed_s) if self.budget_s else state.step,
        )

    def validate_and_save(self) -> None:
        """Validate; save the model if it is the best so far; always save the resumable state.
        Only rank 0 does this: one writer of the model directory."""
        if not self.ranks.is_main:
            return
        state = self.state
        val = evaluate(self.model, self.val_data, self.device)
        state.curve.append(
            {
                "minutes": round(state.elapsed_s / 60, 2),
                "step": state.step,
                "chars_seen": state.chars_seen,
                "train_loss": None if self.loss_avg is None else round(self.loss_avg, 4),
                "val_nats_per_char": round(val, 4),
            }
        )
        log.info("step %d  %.1f min  val %.4f nats/char", state.step, state.elapsed_s / 60, val)
        if val < state.best_val:
            state.best_val = val
            meta = _model_meta(self.opts, state, self.fingerprint, self.train_data.targets)
            meta["parent"] = self.parent
            save_model_dir(self.opts.out, self.model, self.vocab, meta)
        else:  # keep the saved model, refresh its learning curve
            _update_curve(self.opts.out, state.curve)
        save_state(self.opts.state_dir, self.model, self.optim, state)


class _Throughput:
    """Predicted characters per second over a sliding window of about 30 seconds."""

    def __init__(self):
        self.chars, self.t0 = 0, time.perf_counter()

    def add(self, n: int) -> float:
        self.chars += n
        now = time.perf_counter()
        rate = self.chars / max(now - self.t0, 1e-9)
        if now - self.t0 > 30:
            self.chars, self.t0 = 0, now
        return rate


def train(opts: TrainOptions) -> dict:
    """Train (or resume) a model; return a summary. The best model is saved to opts.out."""
    return Trainer(opts).run()


def _update_curve(out: Path, curve: list[dict]) -> None:
    loaded = load_model_dir(out)
    resave(loaded, {"metrics": {**loaded.meta["metrics"], "curve": curve}})


def finish(opts: TrainOptions, device: torch.device) -> dict:
    """Measure the saved best model on the test split; record it and the corpus line index."""
    loaded = load_model_dir(opts.out)
    test = PoemBuckets(read_themed(opts.corpus, "test"), loaded.vocab)
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
