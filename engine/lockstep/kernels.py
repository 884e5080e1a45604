"""Compiled loops for Lockstep's search step (numba): the per-row work torch can only express
as many passes over (rows × candidates) tensors, each a few microseconds a call, dozens a
step. Each kernel is compiled when this module is first imported (a few seconds), then
loaded from numba's on-disk cache (NUMBA_CACHE_DIR, else __pycache__ beside this file, else
the user's cache directory); it releases the GIL. Their arithmetic is float32, in the order
the torch code it replaced used (engine.decode's), so the poems are the same bit for bit."""

from __future__ import annotations

import numba
import numpy as np
import torch

from engine.novelty import BASE, MASK

NEG_INF = np.float32(-np.inf)  # float32: a float64 -inf would turn the sums into float64


def compiled(signature):
    """numba.njit at import for `signature`, cached on disk where numba finds a writable
    cache directory; where it finds none (a read-only install, no home), compiled anew in
    each process rather than failing the import."""

    def compile_(function):
        try:
            return numba.njit(signature, cache=True, nogil=True)(function)
        except RuntimeError as error:
            if "no locator available" not in str(error):
                raise
            return numba.njit(signature, nogil=True)(function)

    return compile_


@compiled("void(float32[:, :], boolean[:, :], float32[:, ::1], int64[:, ::1])")
def _masked_top_k(x, mask, values, index):  # pragma: no cover (compiled)
    N, n = x.shape
    k = values.shape[1]
    for r in range(N):
        found = 0
        floor = -np.inf  # the k-th best so far, once there are k
        for j in range(n):
            if not mask[r, j]:
                continue
            v = x[r, j]
            if found == k and not v > floor:
                continue
            p = found if found < k else k - 1  # insert, keeping the row best first
            while p > 0 and values[r, p - 1] < v:
                values[r, p] = values[r, p - 1]
                index[r, p] = index[r, p - 1]
                p -= 1
            values[r, p] = v
            index[r, p] = j
            if found < k:
                found += 1
            if found == k:
                floor = values[r, k - 1]
        for p in range(found, k):
            values[r, p] = -np.inf
            index[r, p] = 0


def masked_top_k(x: torch.Tensor, mask: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.where(mask, x, -inf).topk(k, 1) for float32 x (N, n) and bool mask (N, n), in one
    pass over each row: (values, index), best first. Equal values keep their column order;
    a row with fewer than k allowed columns is padded with -inf (at column 0)."""
    values = torch.empty(x.size(0), k)
    index = torch.empty(x.size(0), k, dtype=torch.long)
    _masked_top_k(x.numpy(), mask.numpy(), values.numpy(), index.numpy())
    return values, index


I64, F32, BOOL = numba.int64, numba.float32, numba.boolean
I64_1, F32_1, BOOL_1 = I64[:], F32[:], BOOL[:]
I64_2, F32_2 = I64[:, :], F32[:, :]


@compiled(numba.void(
    F32_2, I64_2, I64_1, I64_1, F32_1, I64_1, I64_1, I64_1, BOOL_1, F32_1, I64_1, I64_1, I64_1,
    I64, I64, I64, I64, I64_1, I64_1, I64_1, I64_1, I64_1, BOOL_1,
))  # fmt: skip
def _select(  # pragma: no cover (compiled)
    total, cand, first, group, bound, groups, width, wanted, novel, diversity, line_hash,
    codepoints, hashes, base, mask_bits, relax_novelty, V,
    out_row, out_k, out_flag, out_group, counts, flagged,
):  # fmt: skip
    R = first.shape[0] - 1
    K = total.shape[1]
    picked = 0
    used = np.zeros(V, dtype=np.bool_)
    for r in range(R):
        lo, hi = first[r], first[r + 1]
        used[:] = False
        taken_before = picked
        for g in range(groups[r]):
            rows = np.empty(hi - lo, dtype=np.int64)
            M = 0
            for row in range(lo, hi):
                if group[row] == g:
                    rows[M] = row
                    M += 1
            if M == 0:
                continue
            values = np.empty(M * K, dtype=np.float32)
            unit_bound = -np.inf
            for m in range(M):
                row = rows[m]
                unit_bound = max(unit_bound, bound[row])
                for k in range(K):
                    v = total[row, k]
                    if g and used[cand[row, k]]:  # an earlier group of its poem chose it
                        v = v - diversity[r]
                    values[m * K + k] = v
            # best first, equal values in the order of their (row, id): engine.top's
            place = np.empty(M * K, dtype=np.int64)
            for m in range(M):
                for k in range(K):
                    place[m * K + k] = m * V + cand[rows[m], k]
            order = np.argsort(place, kind="mergesort")
            order = order[np.argsort(-values[order], kind="mergesort")]
            want = wanted[r]
            n = min(want, M * K)
            found = 0
            for i in range(n):
                if np.isfinite(values[order[i]]):
                    found += 1
            if found >= want:
                exact = values[order[want - 1]] > unit_bound
            else:
                exact = unit_bound == -np.inf
            if not exact:
                flagged[r] = True
            copied = np.zeros(n, dtype=np.bool_)
            all_copied = novel[r]
            for i in range(n):
                if not np.isfinite(values[order[i]]):
                    continue
                if novel[r]:
                    row, k = rows[order[i] // K], order[i] % K
                    h = (line_hash[row] * base + codepoints[cand[row, k]]) & mask_bits
                    at = np.searchsorted(hashes, h)
                    copied[i] = at < hashes.shape[0] and hashes[at] == h
                    all_copied = all_copied and copied[i]
                else:
                    all_copied = False
            kept = 0
            for i in range(n):
                if kept == width[r]:
                    break
                if not np.isfinite(values[order[i]]) or (copied[i] and not all_copied):
                    continue
                row, k = rows[order[i] // K], order[i] % K
                out_row[picked], out_k[picked], out_group[picked] = row, k, g
                out_flag[picked] = relax_novelty if all_copied else 0
                used[cand[row, k]] = True
                picked += 1
                kept += 1
        counts[r] = picked - taken_before


def select(requests, total, cand, group, bound, wanted, novel, lines, relax_novelty, V) -> tuple:
    """Lockstep's (diverse) beam selection, request by request and group by group: see
    engine.lockstep.select.Selection._select. Returns (per request (rows, k, flags, group) or
    None, the indexes of the requests a character outside the candidates could change)."""
    R = len(requests)
    first = np.zeros(R + 1, dtype=np.int64)
    first[1:] = np.cumsum([r.rows for r in requests])
    groups = np.array([r.plan.groups for r in requests], dtype=np.int64)
    width = np.array([r.plan.width for r in requests], dtype=np.int64)
    diversity = np.array([r.plan.diversity for r in requests], dtype=np.float32)
    line_hash = torch.cat([r.line_hash for r in requests]).numpy()
    most = int((groups * width).sum())
    out = [np.empty(most, dtype=np.int64) for _ in range(4)]
    counts = np.zeros(R, dtype=np.int64)
    flagged = np.zeros(R, dtype=np.bool_)
    none = np.zeros(0, dtype=np.int64)  # a model without the corpus's lines: nothing is copied
    codepoints, hashes = (none, none) if lines is None else (lines.codepoints, lines.hashes)
    _select(
        total.numpy(), cand.numpy(), first, group.numpy(), bound.numpy(), groups, width,
        wanted.numpy(), novel.numpy(), diversity, line_hash, np.asarray(codepoints),
        np.asarray(hashes), BASE, MASK, relax_novelty, V, *out, counts, flagged,
    )  # fmt: skip
    parts = [torch.from_numpy(t[: counts.sum()]).split(counts.tolist()) for t in out]
    chosen = [tuple(p[i] for p in parts) if counts[i] else None for i in range(R)]
    return chosen, flagged.nonzero()[0].tolist()


@compiled(numba.void(
    F32_2, I64_2, I64_2, I64_1, I64_1, I64_1, I64_1, I64_1, F32_1, BOOL_1, BOOL_1, BOOL_1,
    BOOL_1, I64_1, I64_1, I64_1, BOOL_1, BOOL_1, F32, I64, I64, F32_2,
))  # fmt: skip
def _objective(  # pragma: no cover (compiled)
    values, cand, ids, first, slot, pos, nxt, max_repeat, repeat_nats, loose, formula,
    end_here, ends, forced, slots_at, need, ping, ze, tone_penalty, any_tone, ping_only, out,
):  # fmt: skip
    R = first.shape[0] - 1
    K, W = cand.shape[1], ids.shape[1]
    banned = np.empty(3 * W, dtype=np.int64)
    for q in range(R):
        s, at = slot[q], slots_at[q]
        for row in range(first[q], first[q + 1]):
            nb = 0  # the ids the formula rules ban here (engine.rules)
            if formula[q]:
                last1, last2 = ids[row, max(s - 1, 0)], ids[row, max(s - 2, 0)]
                for j in range(0, s - 2):  # 3-grams (a, b, c) wholly before the slot
                    a, b, c = ids[row, j], ids[row, j + 1], ids[row, j + 2]
                    if pos[q] >= 2 and a == last2 and b == last1:
                        banned[nb] = c
                        nb += 1
                    if pos[q] >= 1 and nxt[q] >= 0 and a == last1 and c == nxt[q]:
                        banned[nb] = b
                        nb += 1
                if end_here[q]:  # the ends of the other rhyming lines, chosen or forced
                    for k in range(slots_at[q + 1] - at):
                        if ends[at + k] and (k < s or (k > s and forced[at + k] >= 0)):
                            banned[nb] = ids[row, k]
                            nb += 1
            wrong_tone = loose[q] and need[row] != any_tone
            for k in range(K):
                c = cand[row, k]
                uses = 0
                for j in range(W):
                    uses += ids[row, j] == c
                o = values[row, k] if uses < max_repeat[q] else NEG_INF
                for i in range(nb):
                    if banned[i] == c:
                        o = NEG_INF
                if wrong_tone and not (ping[c] if need[row] == ping_only else ze[c]):
                    o = o - tone_penalty
                out[row, k] = o - repeat_nats[q] * np.float32(uses)


def objective(requests, values, cand, ids, need, ping, ze, tone_penalty, any_tone, ping_only):
    """Each row's candidates (N, K) scored by the rules its history changes, as
    engine.constraints.objective scores them but for the phrase penalties: -inf past the
    repeat limit or where the formula rules ban it (repeated 3-grams, the ends of the other
    rhyming lines), less the loose-tone penalty and the soft repeat nats. `ids` (N, W):
    each row's poem so far (forced ids everywhere, -1 after)."""
    slot = [r.slot for r in requests]
    rules = [r.plan.constraints.rules for r in requests]
    first = np.zeros(len(requests) + 1, dtype=np.int64)
    first[1:] = np.cumsum([r.rows for r in requests])
    slots_at = np.zeros(len(requests) + 1, dtype=np.int64)
    slots_at[1:] = np.cumsum([r.slots for r in requests])
    out = torch.empty_like(values)
    _objective(
        values.numpy(), cand.numpy(), ids.numpy(), first, np.array(slot),
        np.array([r.rules["pos"][s] for r, s in zip(requests, slot, strict=True)]),
        np.array([(r.rules["forced"] + [-1])[s + 1] for r, s in zip(requests, slot, strict=True)]),
        np.array([x.max_repeat for x in rules]),
        np.array([x.repeat_nats for x in rules], dtype=np.float32),
        np.array([r.loose for r in requests]),
        np.array([x.formula for x in rules]),
        np.array([r.rules["end"][s] for r, s in zip(requests, slot, strict=True)]),
        np.concatenate([r.end.numpy() for r in requests]),
        np.concatenate([r.forced.numpy() for r in requests]),
        slots_at, need.numpy(), ping.numpy(), ze.numpy(), np.float32(tone_penalty), any_tone,
        ping_only, out.numpy(),
    )  # fmt: skip
    return out
