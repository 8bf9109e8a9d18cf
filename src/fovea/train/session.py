"""A training run from a resolved configuration (see :mod:`fovea.train.config`): data, model,
optimizer, schedule, preprocessing, augmentation, early stopping and EMA built from the
options, trained by the Trainer into a run directory; resumed from its checkpoint; evaluated;
and ensembles of runs. A language model on a text dataset trains the same way, counted in
iterations (its pieces in :mod:`fovea.train.language`). The command line is a thin layer over
this module."""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from .. import backend, distributed, nn, optim
from ..data import DataLoader, Subset, load_dataset
from ..data.augment import parse_augment
from ..data.preprocess import Normalize, load_preprocessor
from ..data.preprocess import make_preprocessor as make_fitted_preprocessor
from ..data.registry import dataset_info
from ..errors import CheckpointError, DataError, DeviceError
from ..models import build_model
from ..serialization import load_safetensors, save_safetensors, write_json
from .callbacks import EMA, EarlyStopping, average_states
from .config import LM_SIZE_OPTIONS, ConfigError, resolve
from .language import (
    DEFAULT_MAX_ITERS,
    EVAL_BATCH_SIZE,
    TextData,
    build_language_model,
    check_model_and_data,
    decay_groups,
    evaluate_text,
    is_language_model,
    language_model_options,
    load_vocab,
    save_vocab,
)
from .predict import evaluate, majority_vote, predict_proba
from .run import RunDir
from .trainer import Trainer

DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-2, "adagrad": 1e-2}
PREPROCESS_FILE = "preprocess.safetensors"
VAL_METRICS = "val_metrics.json"


# ---- pieces built from the configuration -----------------------------------------------------
def split(dataset, val_fraction, seed):
    """Hold out a seeded random ``val_fraction`` of ``dataset`` for validation."""
    n = len(dataset)
    n_val = int(round(n * val_fraction))
    if n_val >= n:
        raise ConfigError(f"val_fraction {val_fraction} leaves no training images ({n_val} of "
                          f"the {n} images would be held out for validation)")
    perm = np.random.default_rng(seed).permutation(n)
    train = Subset(dataset, np.sort(perm[n_val:]))
    return train, (Subset(dataset, np.sort(perm[:n_val])) if n_val else None)


def model_options(config) -> dict:
    options = {"hidden": list(config["hidden"]), "activation": config["activation"],
               "dropout": config["dropout"], "batchnorm": config["batchnorm"],
               "init": config["init"]}
    if config["model"] == "cnn":
        if len(config["channels"]) != 2:
            raise ConfigError(f"channels: the cnn has two blocks, got {config['channels']}")
        options["channels"] = list(config["channels"])
    return options


def training_device(config):
    """The device a run trains on: ``config["device"]``, where "auto" is cuda when this machine
    can provide it and the CPU otherwise (a DeviceError when a named device is missing)."""
    name = config.get("device", "auto")
    if name != "auto":
        backend.get(name)
        return backend.as_device(name)
    try:
        backend.get("cuda")
    except DeviceError:
        return backend.CPU
    return backend.as_device("cuda")


def make_model(config):
    info = dataset_info(config["dataset"], config["data_dir"])
    return build_model(config["model"], info["input_shape"], info["num_classes"],
                       **model_options(config))


def make_optimizer(config, params):
    name = config["optimizer"]
    lr = config["lr"] if config["lr"] is not None else DEFAULT_LR[name]
    wd, mom = config["weight_decay"], config["momentum"]
    betas = (config["beta1"], config["beta2"])
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=mom, weight_decay=wd)
    if name == "adam":
        return optim.Adam(params, lr=lr, betas=betas, weight_decay=wd)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, betas=betas, weight_decay=wd)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=mom, weight_decay=wd)
    return optim.Adagrad(params, lr=lr, weight_decay=wd)


def make_scheduler(config, optimizer, steps_per_epoch, iterations=None):
    """(scheduler or None, per_batch). A run of ``iterations`` iterations (a language model's
    max_iters) steps its schedule once per iteration and counts iterations where an epoch run
    counts epochs (T_max, lr_step, milestones, warm-up); plateau still steps per evaluation.
    warmup_cosine always steps per iteration (per batch in an epoch run)."""
    s = optim.lr_scheduler
    name, gamma = config["lr_schedule"], config["lr_gamma"]
    per_iter = iterations is not None
    epochs = iterations if per_iter else config["epochs"]
    total_steps = iterations if per_iter else config["epochs"] * steps_per_epoch
    if name == "constant":
        return None, False
    if name == "warmup_cosine":
        decay = config["lr_decay_iters"] or total_steps
        if config["warmup_iters"] > decay:
            raise ConfigError(f"warmup_iters {config['warmup_iters']} is beyond lr_decay_iters "
                              f"{decay}")
        base = optimizer.param_groups[0]["lr"]
        min_lr = config["min_lr"] if config["min_lr"] is not None else base / 10
        return s.WarmupCosineLR(optimizer, config["warmup_iters"], decay, min_lr), True
    if name == "cosine":
        return s.CosineAnnealingLR(optimizer, T_max=epochs), per_iter
    if name == "step":
        return s.StepLR(optimizer, step_size=config["lr_step"], gamma=gamma), per_iter
    if name == "multistep":
        return s.MultiStepLR(optimizer, milestones=list(config["lr_milestones"]),
                             gamma=gamma), per_iter
    if name == "exponential":
        return s.ExponentialLR(optimizer, gamma=gamma), per_iter
    if name == "linear":
        return s.LinearLR(optimizer, start_factor=1 / 3,
                          total_iters=config["warmup_epochs"]), per_iter
    if name == "plateau":
        return s.ReduceLROnPlateau(optimizer, factor=gamma, patience=config["lr_step"]), False
    max_lr = optimizer.param_groups[0]["lr"]
    return s.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps), True


def make_preprocessor(config, train_images):
    """The input transform, fitted on the training split only (None for "none")."""
    name = config["preprocess"]
    if name == "none":
        return None
    if name == "normalize":
        info = dataset_info(config["dataset"], config["data_dir"])
        return Normalize(info["mean"], info["std"])
    return make_fitted_preprocessor(name).fit(train_images)


class BatchAugment:
    """The Trainer's augmentation hook over a parsed pipeline: (images, labels) → (images,
    targets), targets becoming class probabilities when a step mixes labels (Mixup, CutMix).
    Its generator state is saved in checkpoints."""

    def __init__(self, pipeline, num_classes):
        self.pipeline, self.num_classes = pipeline, num_classes

    def __call__(self, images, labels):
        return self.pipeline(images, labels, self.num_classes)

    def state_dict(self):
        return self.pipeline.state_dict()

    def load_state_dict(self, state):
        self.pipeline.load_state_dict(state)


def make_augment(config, num_classes):
    """The training-time augmentation of ``config["augment"]`` (None when empty), seeded from
    the run's seed."""
    pipeline = parse_augment(config["augment"], generator=config["seed"] + 1)
    return BatchAugment(pipeline, num_classes) if pipeline.transforms else None


# ---- a run ------------------------------------------------------------------------------------
def _train_images(train_set):
    return train_set.dataset.arrays[0][train_set.indices]


def _save_preprocessor(run, transform):
    if transform is not None and hasattr(transform, "state"):
        save_safetensors(transform.state(), run.path / PREPROCESS_FILE)


def load_transform(run, config):
    """The run's saved input transform (its dataset statistics or fitted preprocessing);
    a CheckpointError when config.json does not describe a usable one."""
    try:
        name = config.get("preprocess", "normalize")
        if name == "none":
            return None
        if name == "normalize":
            norm = config["normalize"]
            return Normalize(norm["mean"], norm["std"])
        return load_preprocessor(config["preprocessing"],
                                 load_safetensors(run.path / PREPROCESS_FILE))
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{run.path}: config.json has no usable input normalization "
                              f"({exc})") from None


def train_run(config: dict, out, resume: bool = False, progress=True, log=None,
              overwrite: bool = False, parallel: bool = False) -> dict:
    """Train (or resume) the run ``config`` describes into ``out``; returns the test metrics.

    ``out`` is locked while the run writes it. A new run refuses a directory that already holds
    files unless ``overwrite`` (which replaces the previous run's files); a resumed run first
    removes the temporary files of writes a crash interrupted. A loss or weights that stop
    being finite raise TrainingDiverged, keeping the last finite checkpoint.

    The run directory gets config.json (the resolved configuration), metrics.jsonl (rewritten
    atomically from the history every epoch), a checkpoint after every epoch,
    model.safetensors (the EMA weights with ``ema``, the best epoch's with early stopping),
    early_stopping.json and test_metrics.json.

    ``parallel``: this process is one of an MPI job (``mpiexec -n N``) that trains the run
    data-parallel (:class:`~fovea.train.trainer.Trainer`'s ``distributed``); rank 0 alone
    locks and writes the run directory, prints progress and logs.
    """
    run = RunDir(out)
    if parallel:
        distributed.init()
    job = _Job(parallel)
    if not job.writes:
        progress, log = False, None
    with run.lock() if job.writes else nullcontext():
        if job.writes and resume:
            run.remove_stale_temp_files()
        elif job.writes:
            run.prepare_new(overwrite)
        if job.parallel:  # the others start once rank 0 has prepared the directory
            distributed.barrier()
        if check_model_and_data(config):
            return _train_text_locked(run, config, out, resume, progress, log, job)
        return _train_locked(run, config, out, resume, progress, log, job)


class _Job:
    """How a run is trained: by one process, or by one of the processes of an MPI job
    (``parallel``), of which only rank 0 ``writes`` the run directory."""

    def __init__(self, parallel: bool):
        self.parallel = bool(parallel)
        self.writes = not parallel or distributed.is_main()

    def prepare(self, model, config):
        """The model as the job trains it: BatchNorm layers synchronized across processes
        with ``sync_batchnorm``."""
        if config["sync_batchnorm"]:
            if not self.parallel:
                raise ConfigError("sync_batchnorm synchronizes the processes of a "
                                  "distributed run; add --distributed (under mpiexec)")
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model


def _make_stopper(config, has_val: bool):
    if config["early_stopping"] == "none":
        return None
    if not has_val:
        raise ConfigError("early_stopping needs a validation split (val_fraction > 0)")
    return EarlyStopping(config["early_stopping"], config["patience"], config["min_delta"])


def _trainer_options(config, run, progress, log, job) -> dict:
    """The Trainer's keyword arguments every kind of run takes from its configuration."""
    return dict(l1=config["l1"], l2=config["l2"], clip_grad_norm=config["clip_grad_norm"],
                clip_grad_value=config["clip_grad_value"], run_dir=run.path,
                progress=progress, log=log, distributed=job.parallel, seed=config["seed"])


def _finish(run, model, ema, stopper, history=(), writes=True):
    """The run's final model (the EMA weights, or the best epoch's with early stopping),
    saved when this process ``writes``; an iteration run's early_stopping.json also names
    the best evaluation's iteration."""
    if ema is not None:
        ema.copy_to(model)
    if not writes:
        return
    run.save_model(model)
    if stopper is not None:
        summary = stopper.summary()
        best = summary["epoch"]
        if best and len(history) >= best and "iter" in history[best - 1]:
            summary["iter"] = history[best - 1]["iter"]
        write_json(run.path / "early_stopping.json", summary)


def _train_locked(run, config, out, resume, progress, log, job) -> dict:
    backend.manual_seed(config["seed"])
    info = dataset_info(config["dataset"], config["data_dir"])
    load = dict(data_dir=config["data_dir"], download=config["download"], progress=progress)
    train_full = load_dataset(config["dataset"], "train", **load)
    test = load_dataset(config["dataset"], "test", **load)
    train_set, val_set = split(train_full, config["val_fraction"], config["seed"])
    # a resumed run applies the statistics it saved, never a refit
    transform = (load_transform(run, run.config()) if resume
                 else make_preprocessor(config, _train_images(train_set)))
    model = job.prepare(make_model(config), config).to(training_device(config))
    optimizer = make_optimizer(config, model.parameters())
    train_loader = DataLoader(train_set, batch_size=config["batch_size"], shuffle=True,
                              seed=config["seed"])
    val_loader = DataLoader(val_set, batch_size=500) if val_set is not None else None
    scheduler, per_batch = make_scheduler(config, optimizer, len(train_loader))
    stopper = _make_stopper(config, val_set is not None)
    ema = EMA(model, config["ema"]) if config["ema"] else None
    saved = dict(config)
    saved.update({
        "input_shape": list(info["input_shape"]), "num_classes": info["num_classes"],
        "model_options": model_options(config), "test_split": "test",
        "train_size": len(train_set), "val_size": len(val_set) if val_set is not None else 0,
    })
    if config["preprocess"] == "normalize":
        saved["normalize"] = transform.to_config()
    elif transform is not None:
        saved["preprocessing"] = transform.to_config()
    trainer = Trainer(model, optimizer, transform=transform,
                      augment=make_augment(config, info["num_classes"]),
                      scheduler=scheduler, batch_scheduler=per_batch, early_stopping=stopper,
                      ema=ema, **_trainer_options(config, run, progress, log, job))
    if resume:
        trainer.resume(train_loader)
        if config["epochs"] < trainer.epoch:
            raise ConfigError(f"{out}: --epochs {config['epochs']} is below the "
                              f"{trainer.epoch} epochs this run has done; give --epochs "
                              f"{trainer.epoch} or more")
        if log:
            log(f"resuming {out} after epoch {trainer.epoch} of {config['epochs']}")
    elif job.writes:
        run.create(saved)
        _save_preprocessor(run, transform)
        if log:
            log(f"training {config['model']} on {config['dataset']} ({len(train_set)} train, "
                f"{saved['val_size']} validation) for {config['epochs']} epochs -> {out}")
    if job.writes:
        trainer.on_epoch_end = lambda record: run.write_metrics(trainer.history)
    t0 = time.perf_counter()
    trainer.fit(train_loader, val_loader, config["epochs"])
    _finish(run, model, ema, stopper, writes=job.writes)
    result = evaluate(model, DataLoader(test, batch_size=500), transform=transform,
                      shard=job.parallel)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    result["epochs_run"] = trainer.epoch
    if job.writes:
        write_json(run.path / "test_metrics.json", result)
    return result


def _train_text_locked(run, config, out, resume, progress, log, job) -> dict:
    """A language model trained for max_iters iterations on random windows of its text,
    evaluated (and checkpointed) every eval_interval iterations; the run directory gets
    vocab.json besides the files of an image run, and val_metrics.json (the loss over the
    whole validation split) instead of test_metrics.json."""
    backend.manual_seed(config["seed"])
    data = TextData(config["dataset"], config["val_fraction"],
                    load_vocab(run.path) if resume else None)
    if resume and run.config().get("text_sha256") != data.sha256:
        raise DataError(f"{config['dataset']}: the text changed since {out} began; a resumed "
                        f"run needs the text it was trained on")
    options = language_model_options(config)
    model = job.prepare(build_language_model(config["model"], len(data.vocab), options),
                        config).to(training_device(config))
    optimizer = make_optimizer(config, decay_groups(model, config["weight_decay"]))
    max_iters = config["max_iters"] or DEFAULT_MAX_ITERS
    block, batch = config["block_size"], config["batch_size"]
    train_loader = data.train_loader(block, batch, config["seed"])
    val_loader = data.val_estimate_loader(block, batch, config["eval_iters"], config["seed"])
    scheduler, per_batch = make_scheduler(config, optimizer, None, iterations=max_iters)
    stopper = _make_stopper(config, True)
    ema = EMA(model, config["ema"]) if config["ema"] else None
    trainer = Trainer(model, optimizer, scheduler=scheduler, batch_scheduler=per_batch,
                      early_stopping=stopper, ema=ema, max_iters=max_iters,
                      eval_interval=config["eval_interval"], per_char=True,
                      **_trainer_options(config, run, progress, log, job))
    if resume:
        trainer.resume(train_loader)
        if max_iters < trainer.iteration:
            raise ConfigError(f"{out}: --max-iters {max_iters} is below the "
                              f"{trainer.iteration} iterations this run has done")
        if log:
            log(f"resuming {out} after iter {trainer.iteration} of {max_iters}")
    elif job.writes:
        run.create(dict(config, max_iters=max_iters, vocab_size=len(data.vocab),
                        model_options=options, text_sha256=data.sha256,
                        train_size=len(data.train), val_size=len(data.val)))
        save_vocab(run.path, data.vocab)
        if log:
            log(f"training {config['model']} on {config['dataset']} ({len(data.train)} train, "
                f"{len(data.val)} validation characters, {len(data.vocab)} symbols) for "
                f"{max_iters} iterations -> {out}")
    if job.writes:
        trainer.on_epoch_end = lambda record: run.write_metrics(trainer.history)
    t0 = time.perf_counter()
    trainer.fit(train_loader, val_loader)
    _finish(run, model, ema, stopper, trainer.history, writes=job.writes)
    result = evaluate_text(model, data, block)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    result["iters_run"] = trainer.iteration
    if job.writes:
        write_json(run.path / VAL_METRICS, result)
    return result


def resume_config(run_dir, epochs=None, max_iters=None, device=None) -> dict:
    """The saved configuration of a run to resume (optionally with more epochs, or more
    iterations for a language model, or on another ``device``)."""
    run = RunDir(run_dir)
    config = run.config()
    known = resolve({}, {})
    config = {k: config.get(k, v) for k, v in known.items()}
    if epochs is not None:
        config["epochs"] = epochs
    if max_iters is not None:
        config["max_iters"] = max_iters
    if device is not None:
        config["device"] = device
    if not (run.path / "checkpoint.json").is_file():
        raise CheckpointError(f"{run.path}: no checkpoint to resume from")
    return config


# ---- evaluation and ensembles ----------------------------------------------------------------
def _load_weights(run, model):
    try:
        model.load_state_dict(run.load_model_state())
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{run.path}: the saved model does not fit its config "
                              f"({exc})") from None
    return model


def _bad_config(run, exc):
    return CheckpointError(f"{run.path}: config.json is missing or has a bad field ({exc})")


def load_run_model(run):
    """(model with its saved weights, config) of the finished run in ``run`` (a RunDir)."""
    config = run.config()
    if is_language_model(config.get("model")):
        raise CheckpointError(f"{run.path}: a language-model run; it has no image model")
    try:
        model = build_model(config["model"], tuple(config["input_shape"]),
                            int(config["num_classes"]), **config.get("model_options", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad_config(run, exc) from None
    return _load_weights(run, model), config


def is_language_run(run_dir) -> bool:
    """True when the run in ``run_dir`` trained a language model."""
    return is_language_model(RunDir(run_dir).config().get("model"))


def load_language_run(run_dir):
    """(model with its saved weights, vocabulary, config) of a finished language-model run."""
    run = RunDir(run_dir)
    config = run.config()
    vocab = load_vocab(run.path)
    try:
        if int(config["vocab_size"]) != len(vocab):
            raise ValueError(f"vocab_size {config['vocab_size']}, but vocab.json holds "
                             f"{len(vocab)} characters")
        options = config.get("model_options", {})
        unknown = [k for k in options if k not in (*LM_SIZE_OPTIONS, "block_size", "dropout")]
        if unknown:
            raise ValueError(f"unknown model option {unknown[0]!r}")
        model = build_language_model(config["model"], len(vocab), options)
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad_config(run, exc) from None
    return _load_weights(run, model), vocab, config


def evaluate_language_run(run_dir, batch_size=EVAL_BATCH_SIZE) -> dict:
    """The loss of a language-model run over its whole validation split (see
    :func:`fovea.train.language.evaluate_text`), with its dataset; DataError when the text
    is not the one the run was trained on."""
    model, vocab, config = load_language_run(run_dir)
    data = TextData(config["dataset"], config.get("val_fraction", 0.1), vocab)
    if data.sha256 != config.get("text_sha256"):
        raise DataError(f"{config['dataset']}: the text changed since {run_dir} was trained")
    return {**evaluate_text(model, data, config["block_size"], batch_size),
            "dataset": config["dataset"]}


def load_run(run_dir):
    """(model with its saved weights, transform, config) of a finished run."""
    run = RunDir(run_dir)
    model, config = load_run_model(run)
    return model, load_transform(run, config), config


def ensemble(config: dict, members: int, out, average_parameters=False, progress=False,
             log=None, overwrite=False, parallel=False) -> dict:
    """Train ``members`` runs with seeds seed, seed+1, … into out/member-i and evaluate the
    ensemble: the mean of the members' probabilities and the majority vote. With
    ``average_parameters``, also the model whose weights are the members' average.

    ``parallel``: this process is one of an MPI job; rank r trains members r, r + N, …
    (one process each, side by side), and rank 0 evaluates the ensemble and writes
    ensemble.json once every member is done (the others return None)."""
    if is_language_model(config["model"]):
        raise ConfigError(f"ensemble: {config['model']} is a language model; ensembles are of "
                          f"image classifiers")
    out = Path(out)
    if parallel:
        distributed.init()
    rank, ranks = distributed.rank(), distributed.world_size()
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    distributed.barrier()
    for i in range(rank, members, ranks):
        member = dict(config, seed=config["seed"] + i)
        path = out / f"member-{i}"
        if log and rank == 0:
            log(f"member {i + 1}/{members} (seed {member['seed']}) -> {path}"
                + (f" (and {ranks - 1} more side by side)" if ranks > 1 else ""))
        train_run(member, path, progress=progress and rank == 0, log=None,
                  overwrite=overwrite)
    distributed.barrier()
    if rank != 0:
        return None
    test = load_dataset(config["dataset"], "test", data_dir=config["data_dir"],
                        download=config["download"], progress=False)
    images, labels = test.arrays
    member_results, probs, models = [], [], []
    for i in range(members):
        model, transform, _ = load_run(out / f"member-{i}")
        p = predict_proba(model, images, transform)
        probs.append(p)
        models.append((model, transform))
        member_results.append(float((p.argmax(1) == labels).mean()))
    mean_probs = sum(probs) / members
    vote = majority_vote(probs)
    result = {
        "members": member_results,
        "member_mean": float(np.mean(member_results)),
        "ensemble_mean_probs": float((mean_probs.argmax(1) == labels).mean()),
        "ensemble_majority_vote": float((vote == labels).mean()),
        "n": int(len(labels)),
    }
    if average_parameters:
        print("fovea ensemble: warning: averaging the parameters of independently trained "
              "networks is not an ensemble — their hidden units are not aligned, so the "
              "average is usually a much worse model", file=sys.stderr)
        model, transform = models[0]
        model.load_state_dict(average_states([m.state_dict() for m, _ in models]))
        p = predict_proba(model, images, transform)
        result["average_parameters"] = float((p.argmax(1) == labels).mean())
    write_json(out / "ensemble.json", result)
    return result


__all__ = ["train_run", "resume_config", "load_run", "load_run_model", "load_transform",
           "ensemble", "split", "make_model", "make_optimizer", "make_scheduler",
           "is_language_run", "load_language_run", "evaluate_language_run"]
