"""A character GRU for names in NumPy: forward and backward (BPTT) over a mini-batch of padded names with a mask.

Inputs. Characters have indices 0..V-1 (0 = "\\n", end of name); index V is START, a learned start token, so a
name c1..cn is fed as xs = [START, c1, ..., cn] with targets ys = [c1, ..., cn, 0], from a zero hidden state.
With an embedding (D > 0) each input is the row E[x] (D,), optionally dropped out; without one (D = 0) the input
is one-hot over V + 1 symbols, which is the same as gathering a row of Wx.

GRU cell (PyTorch's convention, gate blocks ordered [r, z, n], each H wide; rows are names in the batch):

    gx = x Wx + bx,   gh = h<t-1> Wh + bh                     (B, 3H) each
    r  = σ(gx_r + gh_r)                                       reset gate
    z  = σ(gx_z + gh_z)                                       update gate
    n  = tanh(gx_n + r ⊙ gh_n)                                candidate
    h<t> = (1 - z) ⊙ (n ⊙ d) + z ⊙ h<t-1>                       d: recurrent dropout mask (training only, else 1)

The optional d is Semeniuta et al.'s "recurrent dropout without memory loss": it drops part of the candidate
update, never the carried state, so it regularises the recurrence without erasing what the state remembers.

Output: logits = (h<t> ⊙ dropout mask) Wy + by, loss = -Σ mask · log softmax(logits)[y], summed over the
unmasked positions (the trainer divides by the mask's sum to get the mean NLL per character).

Padding must come after each name's end (a mask of the form [1]*len + [0]*pad): later padded steps then carry no
loss and send no gradient back, so padding changes neither the loss nor any gradient.
"""

from __future__ import annotations

import numpy as np

WEIGHTS = ("E", "Wx", "Wh", "Wy")  # matrices (weight decay applies to these); E is absent when D = 0
PARAM_NAMES = ("E", "Wx", "bx", "Wh", "bh", "Wy", "by")


def param_shapes(vocab_size: int, hidden: int, embed: int) -> dict[str, tuple[int, ...]]:
    """Expected shape of every parameter; V + 1 input symbols (START is index V)."""
    v, h = vocab_size, hidden
    shapes = {"Wx": (embed if embed else v + 1, 3 * h), "bx": (3 * h,), "Wh": (h, 3 * h), "bh": (3 * h,),
              "Wy": (h, v), "by": (v,)}
    if embed:
        shapes = {"E": (v + 1, embed), **shapes}
    return shapes


def init_params(vocab_size: int, hidden: int, embed: int, rng: np.random.Generator,
                dtype=np.float64) -> dict[str, np.ndarray]:
    """PyTorch's initialisation, from a local Generator: E ~ N(0, 1), every matrix ~ U(±1/√H), zero biases."""
    bound = 1.0 / np.sqrt(hidden)  # torch.nn.GRU and a Linear layer fed by H units both use 1/sqrt(H)
    p = {}
    for name, shape in param_shapes(vocab_size, hidden, embed).items():
        if name == "E":
            p[name] = rng.standard_normal(shape)
        elif name.startswith("W"):
            p[name] = rng.uniform(-bound, bound, shape)
        else:
            p[name] = np.zeros(shape)
    return {k: v.astype(dtype) for k, v in p.items()}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * x) + 0.5  # overflow-free form of 1 / (1 + exp(-x))


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def input_gates(p: dict[str, np.ndarray], xs: np.ndarray, drop_in: np.ndarray | None = None):
    """gx for every step, (B, T, 3H), and the (dropped-out) embedded inputs (B, T, D) or None when one-hot."""
    if "E" not in p:
        return p["Wx"][xs] + p["bx"], None  # one-hot times Wx is a row gather
    emb = p["E"][xs]
    if drop_in is not None:
        emb = emb * drop_in
    return emb @ p["Wx"] + p["bx"], emb


def cell(p: dict[str, np.ndarray], gx: np.ndarray, h: np.ndarray, d: np.ndarray | None = None):
    """One GRU step for a batch: gx (B, 3H), h (B, H), d (B, H) recurrent dropout or None -> (h', r, z, n, gh_n)."""
    H = h.shape[1]
    gh = h @ p["Wh"] + p["bh"]
    r = sigmoid(gx[:, :H] + gh[:, :H])
    z = sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    ghn = gh[:, 2 * H:]
    n = np.tanh(gx[:, 2 * H:] + r * ghn)
    return (1.0 - z) * (n if d is None else n * d) + z * h, r, z, n, ghn


def forward(p: dict[str, np.ndarray], xs: np.ndarray, ys: np.ndarray, mask: np.ndarray,
            drop_in: np.ndarray | None = None, drop_out: np.ndarray | None = None,
            drop_rec: np.ndarray | None = None):
    """Summed masked NLL and the cache for `backward`.

    xs, ys: (B, T) int indices; mask: (B, T), 1 for real positions, 0 for padding.
    drop_in (B, T, D), drop_out (B, T, H), drop_rec (B, T, H): inverted-dropout multipliers (0 or 1/(1-p)) on
    the embedded inputs, the outputs and the candidate update; None = no dropout. A mask whose time axis has
    length 1 is shared by every step (variational / locked dropout).
    """
    B, T = xs.shape
    H = p["Wh"].shape[0]
    mask = mask.astype(p["Wh"].dtype)
    GX, emb = input_gates(p, xs, drop_in)  # (B, T, 3H)
    Hs = np.zeros((B, T + 1, H), dtype=p["Wh"].dtype)  # Hs[:, 0] is the zero start state
    R, Z, N, GHN = (np.empty((B, T, H), dtype=p["Wh"].dtype) for _ in range(4))
    for t in range(T):
        Hs[:, t + 1], R[:, t], Z[:, t], N[:, t], GHN[:, t] = cell(p, GX[:, t], Hs[:, t], step_mask(drop_rec, t))
    Hd = Hs[:, 1:] if drop_out is None else Hs[:, 1:] * drop_out  # (B, T, H)
    logp = log_softmax(Hd @ p["Wy"] + p["by"])  # (B, T, V)
    picked = np.take_along_axis(logp, ys[..., None], axis=2)[..., 0]  # (B, T) log p of each target
    loss = -float((picked * mask).sum())
    cache = (xs, ys, mask, emb, drop_in, drop_out, drop_rec, Hs, Hd, R, Z, N, GHN, logp)
    return loss, cache


def backward(p: dict[str, np.ndarray], cache) -> dict[str, np.ndarray]:
    """Gradients of the summed loss with respect to every parameter (same keys and shapes as `p`)."""
    xs, ys, mask, emb, drop_in, drop_out, drop_rec, Hs, Hd, R, Z, N, GHN, logp = cache
    B, T, H = R.shape
    V = p["Wy"].shape[1]
    dlog = np.exp(logp)  # softmax, (B, T, V); d loss / d logits = softmax - one-hot(target)
    np.put_along_axis(dlog, ys[..., None], np.take_along_axis(dlog, ys[..., None], axis=2) - 1.0, axis=2)
    dlog *= mask[..., None]  # padded positions carry no loss
    g = {"Wy": Hd.reshape(-1, H).T @ dlog.reshape(-1, V), "by": dlog.sum(axis=(0, 1))}
    dHs = dlog @ p["Wy"].T  # (B, T, H) gradient reaching each output state
    if drop_out is not None:
        dHs *= drop_out
    dGX = np.empty((B, T, 3 * H), dtype=R.dtype)  # d loss / d gx (pre-activations, input side)
    dGH = np.empty((B, T, 3 * H), dtype=R.dtype)  # d loss / d gh (pre-activations, recurrent side)
    WhT = p["Wh"].T
    dh_next = np.zeros((B, H), dtype=R.dtype)
    for t in range(T - 1, -1, -1):
        r, z, n, ghn, h_prev = R[:, t], Z[:, t], N[:, t], GHN[:, t], Hs[:, t]
        d = step_mask(drop_rec, t)
        dh = dHs[:, t] + dh_next
        nd = n if d is None else n * d  # the candidate as it entered the update
        dnd = dh * (1.0 - z)  # through h = (1-z) nd + z h_prev
        dan = (dnd if d is None else dnd * d) * (1.0 - n * n)  # then the dropout mask and tanh
        daz = dh * (h_prev - nd) * z * (1.0 - z)
        dar = dan * ghn * r * (1.0 - r)
        dGX[:, t, :H], dGX[:, t, H:2 * H], dGX[:, t, 2 * H:] = dar, daz, dan
        dGH[:, t, :H], dGH[:, t, H:2 * H], dGH[:, t, 2 * H:] = dar, daz, dan * r
        dh_next = dh * z + dGH[:, t] @ WhT
    g["Wh"] = Hs[:, :-1].reshape(-1, H).T @ dGH.reshape(-1, 3 * H)
    g["bh"] = dGH.sum(axis=(0, 1))
    g["bx"] = dGX.sum(axis=(0, 1))
    onehot = np.zeros((B * T, V + 1), dtype=R.dtype)  # scatter-add as a small product (V + 1 is tiny)
    onehot[np.arange(B * T), xs.reshape(-1)] = 1.0
    if emb is None:
        g["Wx"] = onehot.T @ dGX.reshape(-1, 3 * H)
    else:
        D = emb.shape[2]
        g["Wx"] = emb.reshape(-1, D).T @ dGX.reshape(-1, 3 * H)
        demb = dGX @ p["Wx"].T  # (B, T, D)
        if drop_in is not None:
            demb *= drop_in
        g["E"] = onehot.T @ demb.reshape(-1, D)
    return {k: g[k] for k in p}


def step_mask(m: np.ndarray | None, t: int) -> np.ndarray | None:
    """Step t's slice of a (B, T, .) mask, or the shared slice of a locked (B, 1, .) mask."""
    return None if m is None else m[:, t if m.shape[1] > 1 else 0]


def pad_batch(encoded: list[np.ndarray], start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs, ys, mask), each (B, T) with T = longest name + 1: xs = [START, *name], ys = [*name, 0], then padding."""
    T = max(len(ix) for ix in encoded) + 1
    B = len(encoded)
    xs = np.zeros((B, T), dtype=np.int64)
    ys = np.zeros((B, T), dtype=np.int64)
    mask = np.zeros((B, T), dtype=bool)
    for i, ix in enumerate(encoded):
        n = len(ix)
        xs[i, 0] = start
        xs[i, 1:n + 1] = ix
        ys[i, :n] = ix  # ys[i, n] = 0 is the end-of-name target
        mask[i, :n + 1] = True
    return xs, ys, mask


def dropout_mask(rng: np.random.Generator, shape: tuple[int, ...], rate: float, dtype=np.float64) -> np.ndarray | None:
    """Inverted-dropout multipliers (0 with probability `rate`, else 1/(1-rate)); None when rate is 0."""
    if rate <= 0:
        return None
    return (rng.random(shape) >= rate).astype(dtype) / (1.0 - rate)


def mean_nll(p: dict[str, np.ndarray], encoded: list[np.ndarray], batch: int = 512) -> float:
    """Mean per-character NLL in nats over names ("\\n" counted), each from a zero state, no dropout."""
    start = p["Wy"].shape[1]
    total, count = 0.0, 0
    for i in range(0, len(encoded), batch):
        xs, ys, mask = pad_batch(encoded[i:i + batch], start)
        loss, _ = forward(p, xs, ys, mask)
        total += loss
        count += int(mask.sum())
    return total / count
