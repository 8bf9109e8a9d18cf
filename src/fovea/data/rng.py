"""Saving and restoring a NumPy Generator's state as JSON-able dicts (for exact resume)."""

from __future__ import annotations

import copy


def generator_state(generator) -> dict:
    """The generator's state, JSON-serializable: ``{"generator": bit-generator state}``."""
    return {"generator": copy.deepcopy(generator.bit_generator.state)}


def restore_generator(generator, state: dict, what: str, error=ValueError) -> None:
    """Load a :func:`generator_state` into ``generator``; ``error(message)`` naming ``what``
    when the state is malformed or belongs to another kind of bit generator."""
    try:
        gen_state = state["generator"]
        name = gen_state["bit_generator"]
    except (KeyError, TypeError):
        raise error(f"{what} state must hold a 'generator' state") from None
    own = type(generator.bit_generator).__name__
    if name != own:
        raise error(f"{what} state is for bit generator {name}, not {own}")
    generator.bit_generator.state = copy.deepcopy(gen_state)
