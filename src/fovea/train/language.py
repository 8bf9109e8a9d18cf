"""The pieces of a language-model run: its text and vocabulary, the model built from the
configuration's size options, the weight-decay groups, the window loaders, and the evaluation
of a run over its whole validation split. :mod:`fovea.train.session` puts them together."""

from __future__ import annotations

import inspect
import math

from ..data.text import (
    CharVocab,
    FixedWindows,
    RandomWindows,
    SequentialWindows,
    compact_ids,
    is_text_dataset,
    load_text,
    split_ids,
    text_sha256,
)
from ..errors import CheckpointError, DataError
from ..models import LANGUAGE_MODELS
from ..serialization import read_json, write_json
from .config import LM_SIZE_OPTIONS, ConfigError
from .predict import evaluate

VOCAB = "vocab.json"
DEFAULT_MAX_ITERS = 2000
EVAL_BATCH_SIZE = 64
VAL_SEED_OFFSET = 1
"""The fixed validation windows are drawn from seed + this (the training windows from seed)."""

__all__ = ["VOCAB", "is_language_model", "check_model_and_data", "language_model_options",
           "build_language_model", "decay_groups", "TextData", "save_vocab", "load_vocab",
           "evaluate_text", "bits"]


def is_language_model(name) -> bool:
    return name in LANGUAGE_MODELS


def bits(nats: float) -> float:
    """A loss in nats as bits (÷ ln 2)."""
    return nats / math.log(2)


def check_model_and_data(config) -> bool:
    """True for a language-model run; ConfigError when the model and the dataset are of
    different kinds, or a size option of the language models is given to an image model."""
    lm, text = is_language_model(config["model"]), is_text_dataset(config["dataset"])
    if lm and not text:
        raise ConfigError(f"model {config['model']} is a language model; train it on a text "
                          f"dataset (shakespeare or text:PATH), not {config['dataset']}")
    if text and not lm:
        raise ConfigError(f"dataset {config['dataset']} is text; train a language model on it "
                          f"({', '.join(LANGUAGE_MODELS)}), not {config['model']}")
    if not lm:
        given = [n for n in (*LM_SIZE_OPTIONS, "max_iters") if config.get(n) is not None]
        if given:
            raise ConfigError(f"{given[0]}: an option of the language models, not of "
                              f"{config['model']}")
    return lm


def language_model_options(config) -> dict:
    """The constructor arguments of ``config["model"]`` from the configuration: the size
    options given (not None), ``block_size`` and ``dropout`` when the model takes them.
    ConfigError naming an option the model does not take."""
    name = config["model"]
    takes = inspect.signature(LANGUAGE_MODELS[name]).parameters
    own = [p for p in takes if p != "vocab_size"]
    options = {}
    for key in LM_SIZE_OPTIONS:
        if config.get(key) is None:
            continue
        if key not in takes:
            raise ConfigError(f"{key}: model {name} has no such option (its options: "
                              f"{', '.join(own) or 'none'})")
        options[key] = config[key]
    if "block_size" in takes:
        options["block_size"] = config["block_size"]
    if "dropout" in takes:
        options["dropout"] = config["dropout"]
    elif config.get("dropout"):
        raise ConfigError(f"dropout: model {name} has no dropout")
    return options


def build_language_model(name, vocab_size, options):
    """``LANGUAGE_MODELS[name](vocab_size=..., **options)``; ConfigError for a bad value."""
    try:
        return LANGUAGE_MODELS[name](vocab_size=int(vocab_size), **options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model {name}: {exc}") from None


def decay_groups(model, weight_decay: float) -> list:
    """nanoGPT's two parameter groups: weight decay on the parameters of two or more
    dimensions (matmul weights, embeddings), none on biases and normalization scales."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


class TextData:
    """A text dataset as ids: its vocabulary, nanoGPT's split and the loaders of a run."""

    def __init__(self, name, val_fraction=0.1, vocab: CharVocab | None = None):
        if not 0 < val_fraction < 1:
            raise ConfigError(f"val_fraction {val_fraction}: a text run holds out the last "
                              f"part of its text for validation; give a fraction in (0, 1)")
        self.name = name
        self.text = load_text(name)
        self.sha256 = text_sha256(self.text)
        self.vocab = vocab if vocab is not None else CharVocab.from_text(self.text)
        missing = self.vocab.missing(self.text)
        if missing:
            raise DataError(f"{name}: the text holds {missing[0]!r}, which is not in the "
                            f"run's vocabulary (the text changed since the run was trained)")
        ids = compact_ids(self.vocab.encode(self.text), len(self.vocab))
        self.train, self.val = split_ids(ids, val_fraction)

    def train_loader(self, block_size, batch_size, seed):
        return RandomWindows(self.train, block_size, batch_size, seed,
                             what=f"{self.name} (training part)")

    def val_estimate_loader(self, block_size, batch_size, batches, seed):
        return FixedWindows(self.val, block_size, batch_size, batches, seed + VAL_SEED_OFFSET,
                            what=f"{self.name} (validation part)")

    def val_full_loader(self, block_size, batch_size=EVAL_BATCH_SIZE):
        return SequentialWindows(self.val, block_size, batch_size,
                                 what=f"{self.name} (validation part)")


def save_vocab(run_dir, vocab: CharVocab):
    return write_json(run_dir / VOCAB, vocab.to_json())


def load_vocab(run_dir) -> CharVocab:
    """The vocabulary saved with a run; CheckpointError when missing or malformed."""
    obj = read_json(run_dir / VOCAB)
    try:
        return CharVocab.from_json(obj)
    except ValueError as exc:
        raise CheckpointError(f"{run_dir / VOCAB}: not a vocabulary ({exc})") from None


def evaluate_text(model, data: TextData, block_size, batch_size=EVAL_BATCH_SIZE) -> dict:
    """The loss over the whole validation split, in non-overlapping windows of
    ``block_size`` (every character after the first predicted once): nats and bits per
    character, next-character accuracy and the number of characters predicted."""
    result = evaluate(model, data.val_full_loader(block_size, batch_size))
    return {"loss": result["loss"], "bits_per_char": bits(result["loss"]),
            "accuracy": result["accuracy"], "n": result["n"], "split": "val",
            "block_size": int(block_size)}
