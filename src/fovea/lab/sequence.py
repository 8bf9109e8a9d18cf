"""The lab's chapter 4 (RNNs & Transformers): the notes give the heading only, so the claims
are the standard course's (vanishing gradients through time in a vanilla RNN, the LSTM's cell
as the remedy; self-attention's quadratic cost in the sequence length), rerun with fovea's
nn.RNN, nn.LSTM and F.scaled_dot_product_attention on tinyshakespeare."""

from __future__ import annotations

import tracemalloc

import numpy as np

from .. import nn, optim
from ..autograd import Tensor
from ..data.text import CharVocab, load_text
from ..nn import functional as F
from ..viz import _new_figure
from .common import _best_time, _claim, _label, _numpy, _save_figure, _seed
from .record import Context, Result
from .registry import experiment

_HEADING = "## RNNs & Transformers (the notes give the heading only; the standard course claim: "


# ---- shared pieces -------------------------------------------------------------------------
def _shakespeare():
    """tinyshakespeare as character ids and its vocabulary size."""
    text = load_text("shakespeare")
    vocab = CharVocab.from_text(text)
    return vocab.encode(text).astype(np.int64), len(vocab)


def _windows(ids, rng, n: int, length: int) -> np.ndarray:
    """``n`` random windows of ``length`` + 1 consecutive ids (n, length + 1)."""
    starts = rng.integers(0, len(ids) - length - 1, n)
    return ids[starts[:, None] + np.arange(length + 1)]


def _one_hot(windows, vocab: int, requires_grad=False) -> Tensor:
    """The windows' characters as one-hot inputs, time first (T, N, vocab)."""
    x = np.eye(vocab, dtype=np.float32)[windows.T]
    return Tensor(np.ascontiguousarray(x), requires_grad=requires_grad)


def _recurrent(kind: str, vocab: int, hidden: int):
    """A one-layer tanh RNN or LSTM over one-hot characters with a Linear read-out, PyTorch's
    default initialization (U(−1/√H, 1/√H) for every recurrent weight and bias)."""
    rnn = nn.RNN(vocab, hidden) if kind == "RNN" else nn.LSTM(vocab, hidden)
    return rnn, nn.Linear(hidden, vocab)


def _gradient_profile(rnn, head, windows, vocab: int) -> np.ndarray:
    """log10 ‖∂L/∂x_t‖ against the distance T−1−t (index 0: the last step), where L is the
    cross-entropy of the next character predicted at the last step only; the norm is taken
    per sequence (the summed loss keeps the sequences' gradients apart) and the logs
    averaged over the batch (a geometric mean, since the norms span many decades)."""
    length = windows.shape[1] - 1
    x = _one_hot(windows[:, :length], vocab, requires_grad=True)
    out, _ = rnn(x)
    loss = F.cross_entropy(head(out[length - 1]), Tensor(windows[:, length]), reduction="sum")
    loss.backward()
    norms = np.linalg.norm(_numpy(x.grad).astype(np.float64), axis=2)  # (T, N)
    return np.log10(np.maximum(norms, 1e-300)).mean(axis=1)[::-1]


def _train_lm(rnn, head, ids, vocab, steps, length, batch, seed):
    """``steps`` of Adam (lr 3e-3) on next-character prediction at every step of random
    windows; returns the mean loss of the first and the last ten steps."""
    opt = optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=3e-3)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        w = _windows(ids, rng, batch, length)
        out, _ = rnn(_one_hot(w[:, :length], vocab))
        loss = F.cross_entropy(head(out).reshape(-1, vocab), Tensor(w[:, 1:].T.reshape(-1)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return float(np.mean(losses[:10])), float(np.mean(losses[-10:]))


# ---- §4 vanishing gradients ----------------------------------------------------------------
@experiment("4", _HEADING + "gradients vanish through time in a vanilla RNN, while the LSTM's "
            "additive cell state keeps them)", 170, 2)
def rnn_vanishing_gradients(ctx: Context) -> Result:
    length, batch, hidden = (60, 16, 64) if ctx.quick else (100, 32, 128)
    steps = 0 if ctx.quick else 100
    ids, vocab = _shakespeare()
    probe = _windows(ids, np.random.default_rng(ctx.seed), batch, length)
    dist = np.arange(length)
    profiles, numbers = {}, {}
    stages = ("init",) if ctx.quick else ("init", "trained")
    for kind in ("RNN", "LSTM"):
        _seed(ctx)
        rnn, head = _recurrent(kind, vocab, hidden)
        for stage in stages:
            if stage == "trained":
                first, last = _train_lm(rnn, head, ids, vocab, steps, length, 32, ctx.seed + 1)
                numbers[f"{kind} training loss, first 10 steps"] = first
                numbers[f"{kind} training loss, last 10 steps"] = last
            lg = profiles[kind, stage] = _gradient_profile(rnn, head, probe, vocab)
            # distance 0 is the read-out's own input; the decay through the recurrence is
            # fitted from distance 1 on
            slope = float(np.polyfit(dist[1:], lg[1:], 1)[0])
            numbers[f"{kind} {stage}: slope of log10 grad norm per step"] = slope
            numbers[f"{kind} {stage}: decay factor per step"] = float(10 ** slope)
            numbers[f"{kind} {stage}: grad norm ratio, distance 50 / distance 0"] = float(
                10 ** (lg[50] - lg[0]))
    for stage in stages:
        numbers[f"{stage}: LSTM / RNN grad norm at distance 50 (relative to distance 0)"] = (
            numbers[f"LSTM {stage}: grad norm ratio, distance 50 / distance 0"]
            / numbers[f"RNN {stage}: grad norm ratio, distance 50 / distance 0"])

    fig = _new_figure((5.5, 4))
    ax = fig.add_subplot(1, 1, 1)
    for (kind, stage), lg in profiles.items():
        ax.plot(dist, lg, color="C0" if kind == "RNN" else "C1",
                ls="-" if stage == "init" else "--", label=f"{kind}, {stage}")
    _label(ax, "distance T − t (steps back from the loss)", "log10 ‖∂L/∂x_t‖",
           f"gradient through time, H = {hidden}")
    name = _save_figure(ctx, fig, "rnn_vanishing_gradients.png")

    rnn0 = numbers["RNN init: decay factor per step"]
    lstm0 = numbers["LSTM init: decay factor per step"]
    r50 = numbers["init: LSTM / RNN grad norm at distance 50 (relative to distance 0)"]
    rnn50 = numbers["RNN init: grad norm ratio, distance 50 / distance 0"]
    trained = ""
    if not ctx.quick:
        rnn1 = numbers["RNN trained: decay factor per step"]
        lstm1 = numbers["LSTM trained: decay factor per step"]
        key = "trained: LSTM / RNN grad norm at distance 50 (relative to distance 0)"
        trained = (f"; after {steps} steps of language modelling the factors are {rnn1:.2f} "
                   f"(RNN) and {lstm1:.2f} (LSTM), the LSTM's gradient at distance 50 "
                   f"{numbers[key]:.2g} times the RNN's")
    vanishes = rnn50 < 1e-3
    if vanishes and r50 >= 1e3:
        verdict = (f"holds: the vanilla RNN's gradient shrinks by {rnn0:.2f} per step "
                   f"({rnn50:.1e} at distance 50), the LSTM's by {lstm0:.2f} ({r50:.2g} times "
                   f"the RNN's at distance 50){trained}.")
    else:
        verdict = (f"{'holds partly' if vanishes else 'does not hold'}: the vanilla RNN's "
                   f"gradient shrinks geometrically, by {rnn0:.2f} per step at initialization "
                   f"({rnn50:.1e} at distance 50), but at PyTorch's default initialization the "
                   f"LSTM's shrinks almost as fast ({lstm0:.2f} per step, {r50:.2g} times the "
                   f"RNN's at distance 50), since its forget gate starts at σ(≈0) ≈ 0.5: the "
                   f"cell keeps gradients only once the forget gates are near 1{trained}.")
    return Result(
        "rnn_vanishing_gradients", "4", _claim("rnn_vanishing_gradients"),
        f"The chapter's text is only its heading, so the claim is the standard course claim. "
        f"A one-layer tanh nn.RNN and an nn.LSTM ({hidden} hidden units, PyTorch's default "
        f"initialization, the same seed) read {batch} random windows of {length} one-hot "
        f"characters of tinyshakespeare; L is the cross-entropy of the next character predicted "
        f"at the last step only, and the curve is the batch's geometric mean of ‖∂L/∂x_t‖ per "
        f"sequence against the distance T−1−t. The decay per step is 10^slope of a line fitted "
        f"to log10 ‖∂L/∂x_t‖ from distance 1 on"
        + ("" if ctx.quick else
           f"; measured at initialization and after {steps} steps of Adam (lr 3e-3, batch 32) "
           f"on next-character prediction at every step")
        + (" (quick mode: at initialization only)." if ctx.quick else "."),
        numbers, [name], verdict)


# ---- §4 attention's cost -------------------------------------------------------------------
def _attention_step(rng, length: int, heads: int, dim: int):
    q, k, v = (Tensor(rng.standard_normal((1, heads, length, dim // heads)).astype(np.float32),
                      requires_grad=True) for _ in range(3))

    def run():
        F.scaled_dot_product_attention(q, k, v).sum().backward()
    return run


def _lstm_step(rng, length: int, lstm, dim: int):
    x = Tensor(rng.standard_normal((length, 1, dim)).astype(np.float32), requires_grad=True)

    def run():
        lstm(x)[0].sum().backward()
    return run


def _cost(run, repeats: int):
    """(seconds per call: the best of ``repeats`` timed batches of calls, the peak bytes NumPy
    allocated during one call, traced by tracemalloc: exact, unlike the times)."""
    seconds = _best_time(run, repeats)
    tracemalloc.start()
    try:
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return seconds, peak


def _exponent(lengths, values, last: int = 3) -> float:
    """The log-log slope over the ``last`` longest sequences (where fixed overheads weigh
    least)."""
    return float(np.polyfit(np.log(lengths[-last:]), np.log(values[-last:]), 1)[0])


@experiment("4", _HEADING + "self-attention costs O(T²) in time and memory, a recurrence O(T))",
            30, 8)
def attention_cost(ctx: Context) -> Result:
    lengths = np.array([64, 128, 256, 512] if ctx.quick else [64, 128, 256, 512, 1024, 2048])
    dim, heads, repeats = 64, 4, 3 if ctx.quick else 7
    _seed(ctx)
    lstm = nn.LSTM(dim, dim)
    rng = np.random.default_rng(ctx.seed)
    costs = {"attention": [], "LSTM": []}
    for length in lengths:
        costs["attention"].append(_cost(_attention_step(rng, int(length), heads, dim), repeats))
        costs["LSTM"].append(_cost(_lstm_step(rng, int(length), lstm, dim), repeats))
    numbers = {}
    for kind, c in costs.items():
        secs, peak = np.array([s for s, _ in c]), np.array([p for _, p in c], dtype=np.float64)
        numbers[f"{kind}: memory exponent"] = _exponent(lengths, peak)
        numbers[f"{kind}: time exponent"] = _exponent(lengths, secs)
        for length, s, p in zip(lengths, secs, peak):
            numbers[f"{kind} T={length}: peak bytes"] = int(p)
            numbers[f"{kind} T={length}: seconds"] = float(s)
    top = int(lengths[-1])
    numbers[f"attention T={top}: score matrix bytes (heads·T²·4)"] = heads * top * top * 4

    fig = _new_figure((10, 3.8))
    for i, (what, unit) in enumerate((("seconds", "seconds, forward + backward"),
                                      ("peak bytes", "peak bytes allocated"))):
        ax = fig.add_subplot(1, 2, i + 1)
        for kind in costs:
            ys = [numbers[f"{kind} T={t}: {what}"] for t in lengths]
            exp = numbers[f"{kind}: {'time' if i == 0 else 'memory'} exponent"]
            ax.loglog(lengths, ys, marker="o", ms=3, label=f"{kind} (slope {exp:.2f})")
        ref = numbers[f"attention T={lengths[-1]}: {what}"]
        ax.loglog(lengths, ref * (lengths / lengths[-1]) ** 2, "k:", label="∝ T²")
        _label(ax, "sequence length T", unit, f"cost of one sequence ({what})")
    name = _save_figure(ctx, fig, "attention_cost.png")

    am, lm = numbers["attention: memory exponent"], numbers["LSTM: memory exponent"]
    at, lt = numbers["attention: time exponent"], numbers["LSTM: time exponent"]
    quadratic = am > 1.5 and lm < 1.3
    timed = at > 1.5 and 0.7 < lt < 1.3  # a falling or flat time is noise, not O(T)
    why = "holds" if quadratic and timed else "holds partly" if quadratic else "does not hold"
    verdict = (f"{why}: the peak memory of attention's forward and backward grows as "
               f"T^{am:.2f} (the {heads}·T² score and weight matrices) against the LSTM's "
               f"T^{lm:.2f}; the time exponents are {at:.2f} and {lt:.2f} (timings on a shared "
               f"CPU, the fastest of {repeats})"
               + ("" if timed else ", too noisy here to separate the two in time") +
               "; the recurrence's T steps are sequential, attention's are not.")
    return Result(
        "attention_cost", "4", _claim("attention_cost"),
        f"The chapter's text is only its heading, so the claim is the standard course claim. "
        f"fovea's F.scaled_dot_product_attention ({heads} heads, model width {dim}, batch 1) "
        f"and an nn.LSTM({dim}, {dim}) run forward and backward (the sum of the outputs) on "
        f"random sequences of T = {', '.join(str(t) for t in lengths)}: time as the fastest of "
        f"{repeats} calls after a warm-up, memory as the peak bytes NumPy allocated in one call "
        f"(tracemalloc, repeatable to some hundred bytes). The exponents are log-log slopes "
        f"over the three longest T. The times depend on NumPy's BLAS threads and on the machine's other "
        f"load (for clean times run with OPENBLAS_NUM_THREADS=1); the memory does not.",
        numbers, [name], verdict)
