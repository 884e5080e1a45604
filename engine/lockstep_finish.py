"""Lockstep's last step: each finished request's final hypotheses into its poem.

A poem of the default search still needs its rerank's pass without the theme over its
finalists (Poet.finish_steps): that pass is a search of its own, one model step per
character, which the Lockstep's `finishing` scheduler (engine.batching) steps together with
every other poem's pass. Its rows are the batch stepper's, so a poem's numbers do not depend
on the passes beside it."""

from __future__ import annotations

from engine.batching import Finished
from engine.decode import Decoded


class Finishing:
    def _finish_all(self, requests: list) -> list[Finished]:
        """The poems that need no pass; the others go on in `finishing`."""
        results = []
        for r in requests:
            self.requests.pop(r.key, None)  # its search is over
            try:
                done = self.finishing.submit(
                    r.key, self.poet.finish_steps(r.plan, self._finals(r))
                )
            except Exception as error:  # this poem alone fails
                done = Finished(r.key, error=error)
            if done is not None:
                results.append(done)
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
