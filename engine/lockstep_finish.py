"""Lockstep's last step: each finished request's final hypotheses into its poem.

The default search's rerank runs its pass without the theme per poem, over that poem's own
finalists (Poet.finish), as a worker process does: a batched pass shared with other poems
was measured twice as slow for a poem finishing alone (23 against 11 ms), and a poem's
numbers must not depend on which poems finish beside it."""

from __future__ import annotations

from engine.batching import Finished
from engine.decode import Decoded


class Finishing:
    def _finish_all(self, requests: list) -> list[Finished]:
        results = []
        for r in requests:
            try:
                results.append(Finished(r.key, self.poet.finish(r.plan, self._finals(r))))
            except Exception as error:  # this poem alone fails
                results.append(Finished(r.key, error=error))
        return results

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
