"""Lockstep's last step: each finished request's final hypotheses into its poem.

The default search's rerank needs one pass of the model without the theme over each poem's
finalists. The finalists of every request that finished in the same step share that pass, on
the batch stepper: row by row its numbers are the same whoever runs beside them, so a poem
does not depend on which requests finished with it."""

from __future__ import annotations

import torch

from engine.batching import Finished
from engine.decode import Decoded
from engine.rerank import finalists, stepper_sequence_log_probs


class Finishing:
    def _finish_all(self, requests: list) -> list[Finished]:
        finals = {r.key: self._finals(r) for r in requests}
        passes: dict[tuple, list] = {}  # (plain prefix, length) → [(key, finalists' ids)]
        for r in requests:
            prefix = self.poet.plain_prefix(r.plan) if r.plan.spec.mode == "diverse" else None
            if prefix is not None:
                chosen = finalists(finals[r.key], r.plan.search.rerank_top)
                seqs = torch.tensor([c.ids for c in chosen], dtype=torch.long)
                passes.setdefault((tuple(prefix), seqs.size(1)), []).append((r.key, seqs))
        plain: dict = {}
        for (prefix, _), members in passes.items():
            try:
                sums = self._plain_pass(list(prefix), [seqs for _, seqs in members])
            except Exception:  # one request's bad finalists: each then goes on its own
                sums = [None] * len(members)
            for (key, seqs), part in zip(members, sums, strict=True):
                plain[key] = _Known(seqs, part, self, list(prefix))
        results = []
        for r in requests:
            try:
                poem = self.poet.finish(r.plan, finals[r.key], plain.get(r.key))
                results.append(Finished(r.key, poem))
            except Exception as error:
                results.append(Finished(r.key, error=error))
        return results

    def _plain_pass(self, prefix: list[int], seqs: list[torch.Tensor]) -> list[torch.Tensor]:
        sums = stepper_sequence_log_probs(self.stepper, prefix, torch.cat(seqs))
        return list(sums.split([s.size(0) for s in seqs]))

    @staticmethod
    def _finals(request) -> list[Decoded]:
        """The request's final rows as engine.decode.beam_steps returns them, best first."""
        n = request.slots
        order = request.scores.argsort(descending=True).tolist()
        return [
            Decoded(
                request.ids[i].tolist(),
                float(request.logp[i]) / n,
                int(request.relaxed[i]),
                int(request.start[i]),
                float(request.scores[i] - request.logp[i]),
            )
            for i in order
        ]


class _Known:
    """The plain pass of one request's finalists, computed with others' (or alone if that
    failed); called by engine.rerank.rerank with the same finalists."""

    def __init__(self, seqs: torch.Tensor, sums: torch.Tensor | None, owner, prefix: list[int]):
        self.seqs, self.sums, self.owner, self.prefix = seqs, sums, owner, prefix

    def __call__(self, seqs: torch.Tensor) -> torch.Tensor:
        if self.sums is None or not torch.equal(seqs, self.seqs):
            return self.owner._plain_pass(self.prefix, [seqs])[0]
        return self.sums
