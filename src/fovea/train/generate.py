"""Sampling text from a language model of the contract in :mod:`fovea.models`
(``LANGUAGE_MODELS``): prefill the prompt once, then decode one token at a time from the
model's cache, so that N new tokens cost one pass over the prompt and N single-token steps,
not N full passes.

A model with a context limit (``block_size`` set: the Transformer) is prefilled again on the
last ``block_size`` tokens whenever one more token would overflow its cache (a sliding window,
as nanoGPT's ``idx[:, -block_size:]``); an unbounded one (``block_size`` None: an RNN, the
bigram) decodes throughout.
"""

from __future__ import annotations

import numpy as np

from ..errors import FoveaError
from .predict import inference

__all__ = ["GenerateError", "sample_next", "generate", "generate_text"]


class GenerateError(FoveaError, ValueError):
    """A bad generation request: an empty prompt, a prompt character the model never saw, a
    bad temperature or top-k."""


def sample_next(logits, temperature=1.0, top_k=None, generator=None) -> np.ndarray:
    """One token id per row of ``logits`` (N, V): softmax(logits / temperature) restricted to
    the ``top_k`` largest logits (ties at the k-th kept, as nanoGPT's ``logits < v[:, [-1]]``),
    sampled with ``generator``; ``temperature`` 0 takes the argmax."""
    logits = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return logits.argmax(axis=1)
    z = logits / temperature
    if top_k is not None and top_k < z.shape[1]:
        kth = np.partition(z, -top_k, axis=1)[:, -top_k][:, None]
        z = np.where(z < kth, -np.inf, z)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    cdf = np.cumsum(p, axis=1)
    u = generator.random(len(z))[:, None] * cdf[:, -1:]
    # the first index whose cumulative mass passes u (a token of zero mass is never chosen)
    return np.minimum((cdf <= u).sum(axis=1), z.shape[1] - 1)


def generate(model, prompt_ids, max_new_tokens: int, temperature=1.0, top_k=None, seed=None,
             on_token=None) -> list:
    """The ids of ``prompt_ids`` followed by ``max_new_tokens`` sampled ones (see
    :func:`sample_next`), each passed to ``on_token(id)`` as soon as it is drawn.

    The loop keeps the token list and the count of tokens in the model's cache: the prompt (its
    last ``block_size`` tokens) is prefilled; after each new token, ``decode(token, cache)``
    when the cache has room for it, else ``prefill(tokens[-block_size:])`` again.
    """
    tokens = [int(t) for t in prompt_ids]
    if not tokens:
        raise GenerateError("the prompt is empty; a language model needs a first character")
    if isinstance(max_new_tokens, bool) or int(max_new_tokens) != max_new_tokens \
            or max_new_tokens < 0:
        raise GenerateError(f"max_new_tokens must be an integer ≥ 0, got {max_new_tokens!r}")
    if not temperature >= 0:
        raise GenerateError(f"temperature must be ≥ 0, got {temperature}")
    if top_k is not None and (isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1):
        raise GenerateError(f"top_k must be a positive integer, got {top_k!r}")
    rng = np.random.default_rng(seed)
    block = model.block_size
    if max_new_tokens == 0:
        return tokens

    def prefill():
        window = tokens if block is None else tokens[-block:]
        logits, cache = model.prefill(np.array([window], dtype=np.int64))
        return logits, cache, len(window)

    with inference(model):  # eval mode, no graph
        logits, cache, cached = prefill()
        for i in range(int(max_new_tokens)):
            token = int(sample_next(logits, temperature, top_k, rng)[0])
            tokens.append(token)
            if on_token is not None:
                on_token(token)
            if i == max_new_tokens - 1:
                break  # the logits after the last token are not needed
            if block is not None and cached + 1 > block:
                logits, cache, cached = prefill()
            else:
                logits, cache = model.decode(np.array([token], dtype=np.int64), cache)
                cached += 1
    return tokens


def generate_text(model, vocab, prompt: str, max_new_tokens: int, temperature=1.0,
                  top_k=None, seed=None, on_text=None) -> str:
    """The prompt and ``max_new_tokens`` sampled characters as text. ``on_text`` gets the
    prompt once it is checked, then each character as it comes. GenerateError naming the
    prompt characters outside ``vocab``."""
    missing = vocab.missing(prompt)
    if missing:
        shown = ", ".join(repr(c) for c in missing[:5])
        raise GenerateError(f"the prompt holds {shown}, not in the model's vocabulary of "
                            f"{len(vocab)} characters")
    ids = vocab.encode(prompt)
    emit = None
    if on_text is not None:
        on_text(prompt)
        emit = lambda token: on_text(vocab.chars[token])  # noqa: E731
    return vocab.decode(generate(model, ids, max_new_tokens, temperature, top_k, seed, emit))
