"""Resumable training state: model and optimiser tensors in safetensors, the rest in JSON."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from engine.checkpoint import atomic_directory
from engine.model import CharLSTM


@dataclass
class TrainState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    chars_seen: int = 0
    elapsed_s: float = 0.0
    best_val: float = math.inf
    curve: list[dict] = field(default_factory=list)


def save_state(
    state_dir: Path, model: CharLSTM, optim: torch.optim.Optimizer, state: TrainState
) -> None:
    """Everything needed to resume, as safetensors + JSON (no pickle)."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_state = optim.state_dict()
    for pid, slots in opt_state["state"].items():
        for name, value in slots.items():
            tensors[f"optim.{pid}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.cpu"] = torch.get_rng_state()
    with atomic_directory(state_dir) as tmp:
        save_file(tensors, str(tmp / "state.safetensors"))
        meta = {"state": asdict(state), "param_groups": opt_state["param_groups"]}
        (tmp / "state.json").write_text(json.dumps(meta))


def load_state(state_dir: Path, model: CharLSTM, optim: torch.optim.Optimizer) -> TrainState:
    tensors = load_file(str(state_dir / "state.safetensors"))
    meta = json.loads((state_dir / "state.json").read_text())
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    slots: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            slots.setdefault(int(pid), {})[name] = value
    optim.load_state_dict({"state": slots, "param_groups": meta["param_groups"]})
    torch.set_rng_state(tensors["rng.cpu"])
    return TrainState(**meta["state"])
