"""Compiled kernels of the RNN names sampler: a vectorised exp/tanh and the lockstep sampling loop.

Why lockstep: a name is ~15 steps of tiny products (50x50, 50x27). Stepping one row at a time leaves the CPU's vector
units idle on loops of 27 or 50 elements (most of the time goes to scalar loop remainders). Stepping up to SLOTS
candidate rows together, with the rows in the innermost (contiguous) dimension, turns every operation into long
vectorisable loops (and `_accumulate` adds eight terms per pass). Each row's arithmetic is still done in exactly the
same order as a one-row loop (no reductions across rows, no fast-math), so a row's name depends only on its own
pre-drawn uniforms: not on which slot it ran in, nor on the batch size, nor on the CPU's vector width.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_JIT = dict(cache=True, nogil=True, error_model="numpy")  # numpy error model: no hidden branches, loops vectorise
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93145751953125e-1  # ln 2 split in two (Cody-Waite) so k * ln2 is exact in the high part
_LN2_LO = 1.42860682030941723212e-6


@numba.njit(**_JIT)
def _exp_into(x, out, kbits):
    """out[i] = exp(x[i]) for float64 arrays, branch-free so LLVM vectorises it (libm's exp is a scalar call).

    exp(x) = 2^k * exp(r), k = round(x / ln 2), |r| <= ln2 / 2; exp(r) by its Taylor series to r^13 (error below
    2e-16 relative), 2^k assembled from its bits. Inputs are clamped to [-708, 709] (exp(-708) ~ 3e-308).
    """
    n = x.shape[0]
    for i in range(n):
        v = min(max(x[i], -708.0), 709.0)
        k = np.floor(v * _LOG2E + 0.5)
        r = (v - k * _LN2_HI) - k * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        out[i] = p * r + 1.0
        kbits[i] = (np.int64(k) + 1023) << 52
    scale = kbits.view(np.float64)
    for i in range(n):
        out[i] *= scale[i]


@numba.njit(**_JIT)
def _tanh_into(z, out, tmp, kbits):
    """out = tanh(z) via exp(-2|z|): tanh = sign(z) (1 - t) / (1 + t); vectorised like _exp_into.

    `out` must not be `z`. The exp goes from `tmp` into `out` (not in place: an in-place exp defeats LLVM's
    vectoriser and runs 5x slower).
    """
    n = z.shape[0]
    for i in range(n):
        tmp[i] = -2.0 * abs(z[i])
    _exp_into(tmp, out, kbits)
    for i in range(n):
        out[i] = math.copysign((1.0 - out[i]) / (1.0 + out[i]), z[i])


@numba.njit(**_JIT)
def _accumulate(out, WT, h, active):
    """out[j, s] += sum_k WT[k, j] h[k, s] for s < active, adding the k terms in ascending order one at a time.

    Eight k terms are added per pass over out ((out + w0 h0) + w1 h1) + ... + w7 h7: the same roundings as eight
    separate passes, an eighth of the loads and stores of `out` (the stores are what bound this loop).
    """
    n_k, n_j = WT.shape
    k8 = n_k - n_k % 8
    for k in range(0, k8, 8):
        h0, h1, h2, h3, h4, h5, h6, h7 = h[k], h[k + 1], h[k + 2], h[k + 3], h[k + 4], h[k + 5], h[k + 6], h[k + 7]
        for j in range(n_j):
            oj = out[j]
            w0, w1, w2, w3 = WT[k, j], WT[k + 1, j], WT[k + 2, j], WT[k + 3, j]
            w4, w5, w6, w7 = WT[k + 4, j], WT[k + 5, j], WT[k + 6, j], WT[k + 7, j]
            for s in range(active):
                oj[s] = (oj[s] + w0 * h0[s] + w1 * h1[s] + w2 * h2[s] + w3 * h3[s] + w4 * h4[s] + w5 * h5[s]
                         + w6 * h6[s] + w7 * h7[s])
    for k in range(k8, n_k):
        hk = h[k]
        for j in range(n_j):
            wkj, oj = WT[k, j], out[j]
            for s in range(active):
                oj[s] += wkj * hk[s]


SLOTS = 64  # candidate rows stepped together: 64 doubles per row of every buffer (8 AVX-512 vectors), L1-sized


@numba.njit(**_JIT)
def _sample_rows(WaxTb, WaaT, WyaT, by, a0, prev, U, temperature, min_steps, chars, ll, done_at):
    """Sample every row of U (one candidate name each) one character at a time, SLOTS rows in lockstep.

    Per step and row: a = tanh(Wax x + Waa a + b); logits = Wya a + by; draw from softmax(logits / T) by inverse CDF
    on float64 weights with the row's pre-drawn uniform U[r, t] (argmax when T == 0); ll[r] accumulates log p at
    T = 1. A row that draws "\n" at step t >= min_steps is kept (done_at[r] = t); one that ends sooner or never ends
    within U.shape[1] steps is rejected (done_at[r] stays -1). A slot whose row finishes takes the next unstarted row,
    so the lanes stay full until the last rows.

    WaxTb (V + 1, n_a): row c = Wax[:, c] + b, row V = b (the zero input); WaaT (n_a, n_a) = Waa.T; WyaT (n_a, V).
    """
    B, steps = U.shape
    n_a, V = WaaT.shape[0], WyaT.shape[1]
    if B == 0 or steps == 0:
        return  # nothing to draw: every row stays rejected
    S = min(B, SLOTS)
    start = V if prev < 0 else prev  # the input that follows a0: the zero input or the prefix's last character
    # Slot buffers, rows innermost: h (n_a, S) hidden states, z pre-activations, logits (V, S), w weights.
    h = np.empty((n_a, S))
    z = np.empty((n_a, S))
    logits = np.empty((V, S))
    e = np.empty((V, S))
    w = np.empty((V, S))
    tmp = np.empty(n_a * S)
    kbits = np.empty(max(n_a, V) * S, dtype=np.int64)
    m = np.empty(S)
    lse = np.empty(S)
    acc = np.empty(S)  # running sums of the weights
    target = np.empty(S)
    last = np.empty(S, dtype=np.int64)  # last character with non-zero weight
    drawn = np.empty(S, dtype=np.int64)
    row = np.empty(S, dtype=np.int64)  # the candidate each slot is drawing
    t_of = np.zeros(S, dtype=np.int64)  # its step
    x = np.empty(S, dtype=np.int64)  # its previous character (input of the next step)
    total = np.zeros(S)  # its log-likelihood so far
    for s in range(S):  # start the first S rows
        row[s] = s
        x[s] = start
        for j in range(n_a):
            h[j, s] = a0[j]
    nxt = S  # next unstarted row
    active = S
    while active > 0:
        # z = Wax x + b (gathered rows) + Waa h: k ascending, as in a one-row loop
        for j in range(n_a):
            for s in range(active):
                z[j, s] = WaxTb[x[s], j]
        _accumulate(z, WaaT, h, active)
        _tanh_into(z.reshape(n_a * S), h.reshape(n_a * S), tmp, kbits[: n_a * S])  # h = tanh(z), all slots at once
        # logits = Wya h + by
        for v in range(V):
            for s in range(active):
                logits[v, s] = by[v]
        _accumulate(logits, WyaT, h, active)
        # w = exp(logits - max): the softmax's unnormalised weights; lse = log of its normaliser
        for s in range(active):
            m[s] = logits[0, s]
        for v in range(1, V):
            for s in range(active):
                m[s] = max(m[s], logits[v, s])
        for v in range(V):
            for s in range(active):
                e[v, s] = logits[v, s] - m[s]
        _exp_into(e.reshape(V * S), w.reshape(V * S), kbits[: V * S])
        for s in range(active):
            lse[s] = 0.0
        for v in range(V):
            for s in range(active):
                lse[s] += w[v, s]
        for s in range(active):
            lse[s] = m[s] + math.log(lse[s])
        if temperature != 1.0 and temperature != 0.0:  # tempered weights; (logits - m) <= 0: underflow, never overflow
            for v in range(V):
                for s in range(active):
                    e[v, s] = (logits[v, s] - m[s]) / temperature
            _exp_into(e.reshape(V * S), w.reshape(V * S), kbits[: V * S])
        if temperature != 0.0:
            # Inverse CDF, vectorised across slots: the drawn index is the number of running sums <= U * total,
            # capped at the last character with non-zero weight. (The first running sum above the target always
            # belongs to a character of non-zero weight, so this is the one-row loop's "first v with acc > target".)
            for s in range(active):
                acc[s] = 0.0
                last[s] = 0
            for v in range(V):
                for s in range(active):
                    acc[s] += w[v, s]
                    last[s] = v if w[v, s] > 0.0 else last[s]
            for s in range(active):
                target[s] = U[row[s], t_of[s]] * acc[s]  # renormalised by the row's own total
                acc[s] = 0.0
                drawn[s] = 0
            for v in range(V):
                for s in range(active):
                    acc[s] += w[v, s]
                    drawn[s] += acc[s] <= target[s]
        # Record each slot's character, then retire finished rows (descending, so a slot moved down is done).
        for s in range(active - 1, -1, -1):
            r = row[s]
            t = t_of[s]
            if temperature == 0.0:
                ix = 0
                for v in range(1, V):  # the first maximum, like np.argmax
                    if logits[v, s] > logits[ix, s]:
                        ix = v
            else:
                ix = min(drawn[s], last[s])
            total[s] += logits[ix, s] - lse[s]
            chars[r, t] = ix
            if ix != 0 and t + 1 < steps:  # still drawing
                x[s] = ix
                t_of[s] = t + 1
                continue
            if ix == 0 and t >= min_steps:  # ended at an allowed length: kept
                done_at[r] = t
            ll[r] = total[s]
            if nxt < B:  # the slot starts the next row from the prefix state
                row[s] = nxt
                nxt += 1
                x[s] = start
                t_of[s] = 0
                total[s] = 0.0
                for j in range(n_a):
                    h[j, s] = a0[j]
            else:  # no rows left: the last active slot moves into this one
                active -= 1
                if s != active:
                    row[s], x[s], t_of[s], total[s] = row[active], x[active], t_of[active], total[active]
                    for j in range(n_a):
                        h[j, s] = h[j, active]
