"""The training configuration: one table of options drives the ``fovea train`` flags, the keys
of a TOML file (``--config run.toml``) and their validation.

Precedence: the defaults here < the TOML file < flags given on the command line. Keys use
underscores (``batch_size``; dashes are accepted too). An unknown key or a bad value is a
ConfigError naming it; the resolved configuration is saved in the run directory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the tomli backport
    import tomli as tomllib

from .. import backend
from ..errors import FoveaError
from ..files import read_regular
from ..models import LANGUAGE_MODELS
from ..parsing import checked


class ConfigError(FoveaError, ValueError):
    """An unknown configuration key, a bad value, or an unreadable TOML file."""


@dataclass(frozen=True)
class Option:
    """One option: its parser of text (flags) and checker of TOML values, default and help."""

    parse: object          # text -> value, ValueError when bad
    default: object
    help: str
    choices: tuple | None = None
    kind: str = "value"    # "value", "flag" (a bool switch), "list" (several values)
    expected: str = ""


def _choice(*names):
    def parse(text):
        if text not in names:
            raise ValueError(text)
        return text

    return parse


def _opt_positive_float(text):
    if str(text).lower() in ("none", "off", "0"):
        return None
    return checked(float, lambda v: 0 < v < math.inf)(text)


POS_INT = (checked(int, lambda v: v > 0), "a positive integer")
NONNEG_INT = (checked(int, lambda v: v >= 0), "an integer ≥ 0")
POS_FLOAT = (checked(float, lambda v: 0 < v < math.inf), "a positive number")
NONNEG_FLOAT = (checked(float, lambda v: 0 <= v < math.inf), "a number ≥ 0")
FRACTION = (checked(float, lambda v: 0 <= v < 1), "a fraction in [0, 1)")
DECAY = (checked(float, lambda v: 0 < v < 1), "a number in (0, 1)")
BETA = (checked(float, lambda v: 0 <= v < 1), "a number in [0, 1)")

MODELS = ("linear", "mlp", "lenet5", "cnn", "alexnet", "vgg11", "vgg13", "vgg16", "vgg19",
          "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "resnet18", "resnet34",
          "alexnet_cifar", "vgg11_bn_cifar", "vgg16_bn_cifar", "resnet18_cifar", "vit",
          *LANGUAGE_MODELS)
DATASETS = ("mnist-mini", "mnist", "fashion-mnist", "cifar10", "shakespeare")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("constant", "cosine", "step", "multistep", "exponential", "onecycle", "linear",
             "plateau", "warmup_cosine")
PREPROCESS = ("normalize", "none", "center", "standardize", "pca", "zca")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "elu", "selu", "gelu", "silu",
               "softplus", "hardtanh")
INITS = ("default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
         "orthogonal", "normal", "zeros")
MONITORS = ("none", "val_loss", "val_acc", "gap")
CELLS = ("lstm", "gru")
LM_SIZE_OPTIONS = ("embed_dim", "hidden_size", "num_layers", "cell", "n_layer", "n_head",
                   "n_embd", "bias", "tie_weights")
"""The language models' size options (None: the model's own default); each is passed only to
a model whose constructor takes it (see fovea.train.language.language_model_options)."""


def _opt(parse_expected, default, help, **kw):
    parse, expected = parse_expected
    return Option(parse, default, help, expected=expected, **kw)


def _choice_opt(choices, default, help):
    return Option(_choice(*choices), default, help, choices=choices,
                  expected="one of " + ", ".join(choices))


def _dataset(text):
    """A dataset name: one of DATASETS, folder:PATH or text:PATH (PATH made absolute, so that a
    run directory names the same folder or file wherever it is evaluated from)."""
    if text in DATASETS:
        return text
    for prefix in ("folder:", "text:"):
        if isinstance(text, str) and text.startswith(prefix) and text[len(prefix):].strip():
            return prefix + str(Path(text[len(prefix):]).expanduser().absolute())
    raise ValueError(text)


def _device(text):
    """"auto" or a device string fovea knows ("cpu", "cuda", "cuda:1")."""
    text = str(text).strip()
    if text != "auto":
        backend.as_device(text)  # ValueError when it names no device
    return text


OPTIONS = {
    "model": _choice_opt(MODELS, "lenet5", "the network"),
    "dataset": Option(_dataset, "mnist-mini", "the dataset: " + ", ".join(DATASETS) + ", "
                      "folder:PATH (one sub-folder of images per class) or text:PATH (a UTF-8 "
                      "text file, for the language models)",
                      expected="one of " + ", ".join(DATASETS) + ", folder:PATH or text:PATH"),
    "data_dir": Option(str, None, "where the dataset files are (default: $FOVEA_DATA_DIR or a "
                       "cache)", expected="a directory"),
    "download": Option(bool, True, "download missing dataset files", kind="flag"),
    "epochs": _opt(POS_INT, 10, "number of epochs (image models)"),
    "max_iters": Option(POS_INT[0], None, "training iterations of a language model (default "
                        "2000); image models count epochs", expected=POS_INT[1]),
    "eval_interval": _opt(POS_INT, 250, "iterations between evaluations and checkpoints "
                          "(language models)"),
    "eval_iters": _opt(POS_INT, 20, "batches of the validation estimate at each evaluation "
                       "(language models)"),
    "block_size": _opt(POS_INT, 64, "characters per training window (language models; also "
                       "the context length of those that have one)"),
    "batch_size": _opt(POS_INT, 64, "mini-batch size"),
    "optimizer": _choice_opt(OPTIMIZERS, "adam", "the optimizer"),
    "lr": Option(POS_FLOAT[0], None, "learning rate (default 1e-3 for adam/adamw, 0.05 for "
                 "sgd, 1e-2 for rmsprop/adagrad)", expected=POS_FLOAT[1]),
    "momentum": _opt(NONNEG_FLOAT, 0.9, "momentum of sgd and rmsprop"),
    "beta1": _opt(BETA, 0.9, "β1 of adam and adamw"),
    "beta2": _opt(BETA, 0.999, "β2 of adam and adamw"),
    "weight_decay": _opt(NONNEG_FLOAT, 0.0, "weight decay (coupled for sgd/adam, decoupled "
                         "for adamw; only on 2-D weights for language models)"),
    "lr_schedule": _choice_opt(SCHEDULES, "cosine", "learning-rate schedule"),
    "lr_gamma": _opt(POS_FLOAT, 0.1, "decay factor of the step/multistep/exponential "
                     "schedules and of plateau"),
    "lr_step": _opt(POS_INT, 5, "epochs between decays (step); patience (plateau)"),
    "lr_milestones": Option(POS_INT[0], [5, 8], "epochs at which multistep decays",
                            kind="list", expected=POS_INT[1]),
    "warmup_epochs": _opt(POS_INT, 3, "epochs of the linear warm-up (schedule linear)"),
    "warmup_iters": _opt(NONNEG_INT, 100, "iterations of the linear warm-up (schedule "
                         "warmup_cosine)"),
    "lr_decay_iters": Option(POS_INT[0], None, "iteration where warmup_cosine reaches min_lr "
                             "(default: the run's last)", expected=POS_INT[1]),
    "min_lr": Option(NONNEG_FLOAT[0], None, "the learning rate warmup_cosine decays to "
                     "(default lr / 10)", expected=NONNEG_FLOAT[1]),
    "l1": _opt(NONNEG_FLOAT, 0.0, "L1 penalty λ·Σ|w| added to the loss"),
    "l2": _opt(NONNEG_FLOAT, 0.0, "L2 penalty λ·Σw² added to the loss"),
    "clip_grad_norm": Option(_opt_positive_float, None, "clip the global gradient norm",
                             expected="a positive number"),
    "clip_grad_value": Option(_opt_positive_float, None, "clip every gradient element",
                              expected="a positive number"),
    "hidden": Option(POS_INT[0], [256], "hidden layer sizes of the mlp", kind="list",
                     expected=POS_INT[1]),
    "channels": Option(POS_INT[0], [32, 64], "channels of the cnn's two blocks", kind="list",
                       expected=POS_INT[1]),
    "activation": _choice_opt(ACTIVATIONS, "relu", "activation of the mlp and cnn"),
    "init": _choice_opt(INITS, "default", "weight initialization (default: PyTorch's)"),
    "dropout": _opt(FRACTION, 0.0, "dropout probability (mlp, cnn, vit, and the language "
                    "models that have dropout)"),
    "batchnorm": Option(bool, False, "batch normalization after each hidden layer of the mlp "
                        "(the cnn always has it)", kind="flag"),
    "preprocess": _choice_opt(PREPROCESS, "normalize", "input preprocessing fitted on the "
                              "training split (normalize: the dataset's known mean/std)"),
    "augment": Option(str, "", "augmentation pipeline, e.g. crop:pad=2,affine:deg=10",
                      expected="an augmentation spec"),
    "early_stopping": _choice_opt(MONITORS, "none", "early-stopping monitor"),
    "patience": _opt(POS_INT, 5, "early-stopping patience (epochs; evaluations of a language "
                     "model)"),
    "min_delta": _opt(NONNEG_FLOAT, 0.0, "smallest change that counts as an improvement"),
    "ema": Option(DECAY[0], None, "keep an exponential moving average of the weights with this "
                  "decay and evaluate/save it", expected=DECAY[1]),
    "val_fraction": _opt(FRACTION, 0.1, "fraction of the training split held out"),
    "sync_batchnorm": Option(bool, False, "batch norm statistics over the whole global batch "
                             "of a distributed run (SyncBatchNorm; default: each process's "
                             "share)", kind="flag"),
    "seed": _opt(NONNEG_INT, 0, "random seed"),
    "device": Option(_device, "auto", "where to train: cpu, cuda (cuda:N), or auto (cuda when "
                     "CuPy and a GPU are present, else cpu)",
                     expected="auto, cpu, cuda or cuda:N"),
    # the language models' sizes: None lets the model choose
    "embed_dim": Option(POS_INT[0], None, "embedding width (char_rnn)", expected=POS_INT[1]),
    "hidden_size": Option(POS_INT[0], None, "hidden state width (char_rnn)",
                          expected=POS_INT[1]),
    "num_layers": Option(POS_INT[0], None, "recurrent layers (char_rnn)", expected=POS_INT[1]),
    "cell": Option(_choice(*CELLS), None, "recurrent cell (char_rnn)", choices=CELLS,
                   expected="one of " + ", ".join(CELLS)),
    "n_layer": Option(POS_INT[0], None, "Transformer blocks (char_gpt)", expected=POS_INT[1]),
    "n_head": Option(POS_INT[0], None, "attention heads (char_gpt)", expected=POS_INT[1]),
    "n_embd": Option(POS_INT[0], None, "model width (char_gpt)", expected=POS_INT[1]),
    "bias": Option(bool, None, "biases in linear and norm layers (char_gpt)", kind="flag"),
    "tie_weights": Option(bool, None, "share the token embedding with the output layer "
                          "(char_gpt)", kind="flag"),
}


def option_names() -> list:
    return list(OPTIONS)


def defaults() -> dict:
    return {name: opt.default for name, opt in OPTIONS.items()}


def _check_value(name: str, value, source: str):
    """A TOML value checked with the option's parser (TOML gives typed values)."""
    opt = OPTIONS[name]

    def one(v):
        if isinstance(v, bool) and opt.kind != "flag":
            raise ConfigError(f"{source}: {name} = {v!r}: expected {opt.expected}")
        if opt.kind == "flag":
            if not isinstance(v, bool):
                raise ConfigError(f"{source}: {name} = {v!r}: expected true or false")
            return v
        if name in ("data_dir", "augment"):
            if not isinstance(v, str):
                raise ConfigError(f"{source}: {name} = {v!r}: expected a string")
            return v
        if "integer" in opt.expected and not isinstance(v, int):
            raise ConfigError(f"{source}: {name} = {v!r}: expected {opt.expected}")
        try:
            return opt.parse(str(v) if not isinstance(v, str) else v)
        except (ValueError, TypeError):
            raise ConfigError(f"{source}: {name} = {v!r}: expected {opt.expected}") from None

    if opt.kind == "list":
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{source}: {name} = {value!r}: expected a non-empty list of "
                              f"{opt.expected.removeprefix('a ')}s")
        return [one(v) for v in value]
    return one(value)


MAX_CONFIG_BYTES = 2**20
"""The largest TOML file read (1 MiB; a configuration is a few hundred bytes)."""


def load_toml(path) -> dict:
    """The options of a TOML file (at the top level or under ``[train]``), validated;
    ConfigError for an unknown key or table, a bad value, or a file that is not a regular
    file of at most :data:`MAX_CONFIG_BYTES`."""
    path = Path(path)
    try:
        raw = tomllib.loads(read_regular(path, MAX_CONFIG_BYTES, error=ConfigError).decode())
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    if isinstance(raw.get("train"), dict):
        others = [k for k in raw if k != "train"]
        if others:
            kind = "table" if isinstance(raw[others[0]], dict) else "key"
            where = f"[{others[0]}]" if kind == "table" else repr(others[0])
            raise ConfigError(f"{path}: unknown {kind} {where} beside [train] (the options go "
                              f"under [train] or at the top level, not both)")
        table, prefix = raw["train"], "train."
    else:
        table, prefix = raw, ""
    out = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in OPTIONS:
            if isinstance(value, dict):
                raise ConfigError(f"{path}: unknown table [{prefix}{key}] (the options go at the top "
                                  f"level or under [train])")
            known = ", ".join(OPTIONS)
            raise ConfigError(f"{path}: unknown key {key!r} (known keys: {known})")
        out[name] = _check_value(name, value, str(path))
    return out


def resolve(file_options: dict, flag_options: dict) -> dict:
    """defaults < file < flags."""
    config = defaults()
    config.update(file_options)
    config.update({k: v for k, v in flag_options.items() if v is not None})
    return config
