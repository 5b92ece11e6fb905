"""Compiled kernels of the GRU names model: the fused gate update and the fused draw step (sampling and scoring).

Why: per step the NumPy float64 sampler spent most of its time outside the matrix products, in gate arithmetic
over (K, B, 3H) temporaries of tens of MB. Now a step is two float32 BLAS products (h @ Wh, h @ Wy, batched over
the K members, in gru_model) and two kernels here that work row by row in cache, without temporaries:

- `gru_gates` applies the GRU cell in place in float32 (the model was trained in float32), with a branch-free
  vectorisable exp (`_exp32_parts`; libm's expf is a scalar call);
- `draw_step` takes the members' logits to log of the averaged softmax in float64, picks each row's next character
  (forced when scoring, argmax at temperature 0, else inverse CDF with the row's pre-drawn uniform, renormalised by
  the running total), does the ll / chars / done_at bookkeeping and compacts the still-running rows to the front.

A row's arithmetic never depends on the other rows: each kernel does the same operations in the same order for
every row, and a BLAS gemm computes each output row on its own (gru_model keeps >= 2 rows in every product,
since NumPy sends a single row to gemv, which rounds differently). So the log-probabilities behind a sampled name's
log-likelihood are bit for bit those its score sums, whatever batch or slot it was drawn in (tests check this).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from model_core.names_model import END
from model_core.rnn_sampler import _exp_into  # the vectorised float64 exp

_JIT = dict(cache=True, nogil=True, error_model="numpy")  # numpy error model: no hidden branches, loops vectorise
_F = np.float32
_ONE, _HALF, _TWO = _F(1.0), _F(0.5), _F(2.0)
_LO, _HI = _F(-87.0), _F(88.0)  # exp(88) * 1.5 < float32 max; exp(-87) is still a normal float32
_LOG2E = _F(1.4426950408889634)
_LN2_HI = _F(0.693359375)  # ln 2 split in two (Cody-Waite): k * _LN2_HI is exact in float32 for |k| <= 127
_LN2_LO = _F(-2.12194440e-4)
_C = tuple(_F(1.0 / math.factorial(i)) for i in range(8))  # Taylor coefficients of exp, 1/i!


@numba.njit(inline="always", **_JIT)
def _exp32_parts(x):
    """exp(x) for a float32 x as (mantissa part p, int32 bits of 2^k): exp(x) = p * kbits.view(float32).

    exp(x) = 2^k exp(r), k = round(x / ln 2), |r| <= ln2 / 2; exp(r) by its Taylor series to r^7 (truncation
    below 6e-9 relative, under float32's rounding). x is clamped to [-87, 88], so the product is always a finite,
    normal float32. Split in two because a scalar cannot be bit-cast here: the callers store both parts in arrays
    and multiply by a float32 view of the bits in a later loop. Branch-free and inlined, so loops calling it
    vectorise (libm's expf is a scalar call; a separate in-place exp loop did not vectorise and cost 8x).
    """
    v = min(max(x, _LO), _HI)
    k = np.floor(v * _LOG2E + _HALF)
    r = (v - k * _LN2_HI) - k * _LN2_LO
    p = _C[7] * r + _C[6]
    p = p * r + _C[5]
    p = p * r + _C[4]
    p = p * r + _C[3]
    p = p * r + _C[2]
    p = p * r + _C[1]
    return p * r + _C[0], (np.int32(k) + np.int32(127)) << np.int32(23)


@numba.njit(**_JIT)
def gru_gates(GX, bhn, x, gh, h, b):
    """h[k, i] <- GRU cell of member k for rows i < b, in place, float32 (model_core.gru.cell's equations).

    GX (K, V+1, 3H): x Wx + bx for every input symbol, with bh's r and z blocks folded in; bhn (K, H): bh's n block
    (it sits inside r * (...), so it cannot be folded); x (>= b,) input indices; gh (K, >= b, 3H) = h Wh;
    h (K, >= b, H). r = σ(gx_r + gh_r), z = σ(gx_z + gh_z), n = tanh(gx_n + r (gh_n + bh_n)), h = (1-z) n + z h,
    with σ(a) = 1 / (1 + exp(-a)) and tanh a = sign(a) (1 - t) / (1 + t), t = exp(-2|a|) <= 1: no overflow.
    """
    K, _, G = GX.shape
    H = G // 3
    pe = np.empty(2 * H, np.float32)  # exp(-(r, z pre-activations)) = pe * se, see _exp32_parts
    ke = np.empty(2 * H, np.int32)
    se = ke.view(np.float32)
    a = np.empty(H, np.float32)  # n pre-activation
    pt = np.empty(H, np.float32)  # exp(-2 |a|) = pt * st
    kt = np.empty(H, np.int32)
    st = kt.view(np.float32)
    for k in range(K):
        bk = bhn[k]
        for i in range(b):
            g, q, hi = GX[k, x[i]], gh[k, i], h[k, i]
            for j in range(2 * H):
                pe[j], ke[j] = _exp32_parts(-(g[j] + q[j]))
            for j in range(H):
                r = _ONE / (_ONE + pe[j] * se[j])
                aj = g[2 * H + j] + r * (q[2 * H + j] + bk[j])
                a[j] = aj
                pt[j], kt[j] = _exp32_parts(-_TWO * abs(aj))
            for j in range(H):
                tj = pt[j] * st[j]
                n = (_ONE - tj) / (_ONE + tj)
                n = n if a[j] >= 0 else -n
                z = _ONE / (_ONE + pe[H + j] * se[H + j])
                hi[j] = (_ONE - z) * n + z * hi[j]


@numba.njit(**_JIT)
def draw_step(logits, by, b, t, U, forced, temperature, min_steps, rows, x, h, chars, ll, done_at, lp_at):
    """Step t's character for the rows i < b; returns how many rows are still running (compacted to the front).

    logits (K, >= b, V) float32 = h Wy; by (K, V) float64. In float64: log p = log((1/K) Σ_k softmax(logits_k + by_k)).
    rows (>= b,) maps slot i to its row r in the per-row arrays: U (R, steps) pre-drawn uniforms, forced (R, steps)
    characters to score instead of drawing (0 rows = draw), chars (R, steps) int32, ll (R,) Σ log p of the picked
    characters (temperature 1), done_at (R,) the step a kept row drew "\n" (if t >= min_steps), lp_at (R, steps)
    each picked character's log p (0 rows = not recorded). Draw: argmax at temperature 0, else inverse CDF against
    U * the running total of the weights p (T = 1) or exp((log p - max) / T) <= 1 (tiny T underflows, never
    overflows). A drawn "\n" ends the row; forced rows never end. Running rows move to slots < the returned count,
    carrying their h (K, ., H) row, row id and next input x.
    """
    K, _, V = logits.shape
    z = np.empty(K * V)  # member k's logits, shifted by their max, at [k V, (k + 1) V)
    e = np.empty(K * V)  # exp(z): one vectorised call for every member
    kbits = np.empty(K * V, dtype=np.int64)
    ls = np.empty(K)  # log Σ_v e: member k's log p is z - ls[k]
    inv = np.empty(K)
    p = np.empty(V)  # Σ_k p_k: the mixture's unnormalised weights
    logp = np.empty(V)
    w = np.empty(V)
    keep = 0
    for i in range(b):
        for k in range(K):
            m = -np.inf
            for v in range(V):
                z[k * V + v] = np.float64(logits[k, i, v]) + by[k, v]
                m = max(m, z[k * V + v])
            for v in range(V):
                z[k * V + v] -= m
        _exp_into(z, e, kbits)
        for k in range(K):
            s = 0.0
            for v in range(V):
                s += e[k * V + v]
            ls[k] = math.log(s)
            inv[k] = 1.0 / s
        for v in range(V):  # log of the members' mean probability
            acc = 0.0
            for k in range(K):
                acc += e[k * V + v] * inv[k]
            p[v] = acc
            if acc > 1e-290:
                logp[v] = math.log(acc / K)
            else:  # e may have underflowed (or been clamped): max-shifted log-mean-exp of the exact log p_k
                mx = -np.inf
                for k in range(K):
                    mx = max(mx, z[k * V + v] - ls[k])
                acc = 0.0
                for k in range(K):
                    acc += math.exp(z[k * V + v] - ls[k] - mx)
                logp[v] = mx + math.log(acc / K)
        r = rows[i]
        if forced.shape[0] > 0:
            ix = forced[r, t]
        elif temperature == 0.0:
            ix = int(np.argmax(logp))
        else:
            if temperature != 1.0:
                m = logp.max()
                for v in range(V):
                    w[v] = math.exp((logp[v] - m) / temperature)
            else:
                w[:] = p
            tot = 0.0
            last = 0
            for v in range(V):
                tot += w[v]
                if w[v] > 0.0:
                    last = v
            target = U[r, t] * tot  # renormalised: compare against the running sum of the weights
            ix = last
            acc = 0.0
            for v in range(V):
                acc += w[v]
                if acc > target and w[v] > 0.0:
                    ix = v
                    break
        ll[r] += logp[ix]
        chars[r, t] = ix
        if lp_at.shape[0] > 0:
            lp_at[r, t] = logp[ix]
        if ix == END and forced.shape[0] == 0:
            if t >= min_steps:
                done_at[r] = t
            continue
        if keep != i:
            h[:, keep] = h[:, i]
            rows[keep] = r
        x[keep] = ix
        keep += 1
    return keep
