"""Language-model runs: the bigram model, iteration training (warmup_cosine, weight-decay
groups, AdamW betas), evaluate --json over the validation split, generation (prefill/decode
and its sliding window, sampling, the CLI), and resume after SIGKILL bit for bit."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import kill_and_resume

import fovea
from fovea import nn, optim
from fovea.autograd import Tensor, no_grad
from fovea.cli import main
from fovea.errors import TrainingDiverged
from fovea.models import LANGUAGE_MODELS, BigramLM
from fovea.serialization import load_safetensors
from fovea.train import session
from fovea.train.config import ConfigError, load_toml, resolve
from fovea.train.generate import GenerateError, generate, generate_text, sample_next
from fovea.train.language import decay_groups, language_model_options

PHRASE = "abcdefgh\n"  # every character has one successor: a bigram can learn it exactly


def text_file(tmp_path, text=PHRASE * 400, name="phrase.txt"):
    path = tmp_path / name
    path.write_text(text)
    return path


def lm_config(dataset, **overrides):
    flags = {"model": "bigram", "dataset": dataset, "max_iters": 40, "eval_interval": 20,
             "eval_iters": 2, "block_size": 8, "batch_size": 16, "lr": 0.05,
             "lr_schedule": "constant"}
    flags.update(overrides)
    return resolve({}, flags)


# ---- the model ----------------------------------------------------------------------------------
def test_bigram_logits_are_table_rows_and_match_torch():
    torch = pytest.importorskip("torch")
    fovea.manual_seed(0)
    model = BigramLM(11)
    assert model.block_size is None and list(model.state_dict()) == [
        "token_embedding_table.weight"]
    idx = np.random.default_rng(0).integers(0, 11, size=(3, 5))
    x = Tensor(idx)
    logits = model(x)
    assert logits.shape == (3, 5, 11)
    ref = torch.nn.Module()  # nanoGPT's BigramLanguageModel holds just this table
    ref.token_embedding_table = torch.nn.Embedding(11, 11)
    ref.load_state_dict({k: torch.tensor(v.data) for k, v in model.state_dict().items()})
    want = ref.token_embedding_table(torch.tensor(idx))
    np.testing.assert_allclose(logits.data, want.detach().numpy(), rtol=1e-6)
    target = np.random.default_rng(1).integers(0, 11, size=(3, 5))
    loss = fovea.nn.functional.cross_entropy(logits.reshape(-1, 11), Tensor(target).reshape(-1))
    loss.backward()
    torch.nn.functional.cross_entropy(want.reshape(-1, 11),
                                      torch.tensor(target).reshape(-1)).backward()
    np.testing.assert_allclose(model.token_embedding_table.weight.grad.data,
                               ref.token_embedding_table.weight.grad.numpy(), rtol=1e-4, atol=1e-7)
    with no_grad():
        last, cache = model.prefill(idx)
        np.testing.assert_allclose(last, logits.data[:, -1], rtol=1e-6)
        step, _ = model.decode(idx[:, 2], cache)
        np.testing.assert_allclose(step, logits.data[:, 2], rtol=1e-6)


def test_registry_and_size_options():
    assert LANGUAGE_MODELS["bigram"] is BigramLM
    config = resolve({}, {"model": "bigram", "dataset": "shakespeare"})
    assert language_model_options(config) == {}
    for key, value in (("n_layer", 2), ("cell", "gru"), ("tie_weights", False)):
        with pytest.raises(ConfigError, match=f"{key}: model bigram has no such option"):
            language_model_options(dict(config, **{key: value}))
    with pytest.raises(ConfigError, match="dropout"):
        language_model_options(dict(config, dropout=0.1))


def test_lm_keys_in_toml(tmp_path):
    cfg = tmp_path / "lm.toml"
    cfg.write_text('model = "bigram"\ndataset = "shakespeare"\nmax-iters = 100\n'
                   'eval_interval = 10\nblock_size = 32\nlr_schedule = "warmup_cosine"\n'
                   'warmup_iters = 5\nmin_lr = 1e-4\nbeta2 = 0.99\nn_layer = 4\ncell = "gru"\n'
                   'tie_weights = false\n')
    assert load_toml(cfg) == {"model": "bigram", "dataset": "shakespeare", "max_iters": 100,
                              "eval_interval": 10, "block_size": 32,
                              "lr_schedule": "warmup_cosine", "warmup_iters": 5,
                              "min_lr": 1e-4, "beta2": 0.99, "n_layer": 4, "cell": "gru",
                              "tie_weights": False}
    for bad, key in (("cell = 'rnn'", "cell"), ("n_head = 0", "n_head"),
                     ("beta1 = 1.0", "beta1"), ("bias = 1", "bias")):
        cfg.write_text(bad + "\n")
        with pytest.raises(ConfigError, match=key):
            load_toml(cfg)


@pytest.mark.parametrize("flags, match", [
    ({"model": "bigram", "dataset": "mnist-mini"}, "language model"),
    ({"model": "mlp", "dataset": "shakespeare"}, "is text"),
    ({"model": "mlp", "n_layer": 2}, "n_layer: an option of the language models"),
    ({"model": "mlp", "max_iters": 5}, "max_iters"),
])
def test_model_and_dataset_kinds_must_agree(tmp_path, flags, match):
    with pytest.raises(ConfigError, match=match):
        session.train_run(resolve({}, flags), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_ensemble_refuses_a_language_model(tmp_path, capsys):
    assert main(["ensemble", "--model", "bigram", "--dataset", "shakespeare", "--out",
                 str(tmp_path / "ens")]) == 2
    assert "language model" in capsys.readouterr().err


# ---- optimization -------------------------------------------------------------------------------
def nanogpt_get_lr(it, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    """nanoGPT's train.py, verbatim in substance."""
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


@pytest.mark.parametrize("lr, warmup, decay, min_lr", [(1e-3, 100, 2000, 1e-4),
                                                       (6e-4, 0, 50, 0.0), (0.1, 10, 11, 0.01)])
def test_warmup_cosine_is_nanogpts_get_lr(lr, warmup, decay, min_lr):
    opt = optim.AdamW([nn.Parameter(np.zeros(2, np.float32))], lr=lr)
    sched = optim.lr_scheduler.WarmupCosineLR(opt, warmup, decay, min_lr)
    for it in range(decay + 30):
        assert opt.param_groups[0]["lr"] == pytest.approx(
            nanogpt_get_lr(it, lr, warmup, decay, min_lr), rel=1e-12, abs=1e-15), it
        sched.step()
    state = sched.state_dict()
    json.dumps(state)
    with pytest.raises(ValueError, match="warmup_iters"):
        optim.lr_scheduler.WarmupCosineLR(opt, 10, 5)


def test_run_schedule_defaults_count_iterations():
    config = lm_config("shakespeare", lr_schedule="warmup_cosine", lr=1e-3, warmup_iters=10,
                       max_iters=200)
    model = BigramLM(5)
    opt = session.make_optimizer(config, model.parameters())
    sched, per_batch = session.make_scheduler(config, opt, None, iterations=200)
    assert per_batch and sched.lr_decay_iters == 200 and sched.min_lr == pytest.approx(1e-4)
    cosine, per_batch = session.make_scheduler(dict(config, lr_schedule="cosine"), opt, None,
                                               iterations=200)
    assert per_batch and cosine.T_max == 200
    plateau, per_batch = session.make_scheduler(dict(config, lr_schedule="plateau"), opt, None,
                                                iterations=200)
    assert not per_batch
    image = resolve({}, {"lr_schedule": "warmup_cosine", "epochs": 3, "warmup_iters": 5})
    sched, per_batch = session.make_scheduler(image, opt, steps_per_epoch=10)
    assert per_batch and sched.lr_decay_iters == 30  # an epoch run's every batch


class TwoKinds(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 4)
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 7)

    def forward(self, idx):
        return self.head(self.norm(self.emb(idx)))


def test_weight_decay_groups_and_adamw_betas_match_torch():
    """nanoGPT's configure_optimizers: decay on the 2-D parameters only; AdamW with betas
    (0.9, 0.99), compared with torch's AdamW on the same groups over a few steps."""
    torch = pytest.importorskip("torch")
    fovea.manual_seed(0)
    model = TwoKinds()
    groups = decay_groups(model, 0.1)
    assert [len(g["params"]) for g in groups] == [2, 3]  # emb, head.weight | norm ×2, head.bias
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert all(p.ndim >= 2 for p in groups[0]["params"])
    config = resolve({}, {"optimizer": "adamw", "lr": 1e-2, "beta2": 0.99, "weight_decay": 0.1})
    opt = session.make_optimizer(config, groups)
    names = [n for n, _ in model.named_parameters()]
    ref = {n: torch.nn.Parameter(torch.tensor(p.data.copy())) for n, p in
           model.named_parameters()}
    by_id = {id(p): n for n, p in model.named_parameters()}
    tgroups = [{"params": [ref[by_id[id(p)]] for p in g["params"]],
                "weight_decay": g["weight_decay"]} for g in groups]
    topt = torch.optim.AdamW(tgroups, lr=1e-2, betas=(0.9, 0.99))
    rng = np.random.default_rng(0)
    for _ in range(3):
        grads = {n: rng.standard_normal(p.shape).astype(np.float32)
                 for n, p in model.named_parameters()}
        for n, p in model.named_parameters():
            p.grad = Tensor(grads[n])
            ref[n].grad = torch.tensor(grads[n])
        opt.step()
        topt.step()
    params = dict(model.named_parameters())
    for n in names:
        np.testing.assert_allclose(params[n].data, ref[n].detach().numpy(), rtol=1e-5,
                                   atol=1e-7, err_msg=n)


# ---- a run: training, evaluation --------------------------------------------------------------
def test_iteration_run_writes_vocab_metrics_and_checkpoints(tmp_path):
    data = text_file(tmp_path)
    config = lm_config(f"text:{data}", max_iters=50, eval_interval=20, optimizer="adamw",
                       weight_decay=0.1, lr_schedule="warmup_cosine", warmup_iters=5,
                       clip_grad_norm=1.0, early_stopping="val_loss", patience=5)
    lines = []
    result = session.train_run(config, tmp_path / "run", progress=False, log=lines.append)
    run = tmp_path / "run"
    assert json.loads((run / "vocab.json").read_text()) == {"chars": sorted(set(PHRASE))}
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records] == [20, 40, 50]
    assert all(r["val_bpc"] == pytest.approx(r["val_loss"] / math.log(2)) for r in records)
    assert records[-1]["val_loss"] < records[0]["val_loss"]
    assert any("iter 20/50" in line and "nats/char" in line and "bits/char" in line
               for line in lines)
    assert not any("epoch" in line for line in lines)
    saved = json.loads((run / "config.json").read_text())
    assert saved["vocab_size"] == len(set(PHRASE)) and saved["max_iters"] == 50
    assert json.loads((run / "checkpoint.json").read_text())["iteration"] == 50
    assert json.loads((run / "val_metrics.json").read_text())["n"] == result["n"]
    stopped = json.loads((run / "early_stopping.json").read_text())
    assert stopped["iter"] == records[stopped["epoch"] - 1]["iter"]
    assert result["n"] == len(PHRASE * 400) - int(len(PHRASE * 400) * 0.9) - 1
    assert result["bits_per_char"] == pytest.approx(result["loss"] / math.log(2))


def test_evaluate_json_is_the_loss_over_the_whole_validation_split(tmp_path, capsys):
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list("abcde \n"), size=3000))
    data = text_file(tmp_path, text)
    run = tmp_path / "run"
    session.train_run(lm_config(f"text:{data}", max_iters=30, block_size=16), run,
                      progress=False)
    assert main(["evaluate", str(run), "--json", "--batch-size", "7"]) == 0
    result = json.loads(capsys.readouterr().out)
    # the bigram's loss does not depend on windows: every position of the split, at once
    model, vocab, _ = session.load_language_run(run)
    ids = vocab.encode(text[int(len(text) * 0.9):])
    logits = model(Tensor(ids[None, :-1]))
    want = fovea.nn.functional.cross_entropy(logits.reshape(-1, len(vocab)),
                                             Tensor(ids[1:])).item()
    assert result["n"] == len(ids) - 1 and result["split"] == "val"
    assert result["loss"] == pytest.approx(want, rel=1e-5)
    assert result["bits_per_char"] == pytest.approx(want / math.log(2), rel=1e-5)
    assert main(["evaluate", str(run)]) == 0
    assert "nats/char" in capsys.readouterr().out
    assert main(["evaluate", str(run), "--tta"]) == 2
    assert "--tta" in capsys.readouterr().err
    data.write_text(text[::-1])  # the text changed under the run
    assert main(["evaluate", str(run), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "changed" in err


def test_cli_train_then_resume_with_more_iterations(tmp_path, capsys):
    data, run = text_file(tmp_path), tmp_path / "run"
    args = ["train", "--model", "bigram", "--dataset", f"text:{data}", "--max-iters", "20",
            "--eval-interval", "10", "--block-size", "8", "--batch-size", "8", "--quiet"]
    assert main([*args, "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("val loss ") and "nats/char" in out and "bits/char" in out
    assert main(["train", "--resume", str(run), "--max-iters", "30", "--quiet"]) == 0
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records] == [10, 20, 30]
    assert main(["train", "--resume", str(run), "--max-iters", "10", "--quiet"]) == 2
    assert "below the 30 iterations" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--block-size", "4"]) == 2


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_names_the_iteration_and_keeps_the_checkpoint(tmp_path):
    # the warm-up's lr passes float32's largest number (3.4e38) at iteration 34
    data = text_file(tmp_path)
    config = lm_config(f"text:{data}", lr=1e40, optimizer="sgd", momentum=0.0,
                       lr_schedule="warmup_cosine", warmup_iters=1000, lr_decay_iters=1000,
                       max_iters=60, eval_interval=1)
    with pytest.raises(TrainingDiverged, match=r"at iter \d+: .*checkpoint of iter \d+"):
        session.train_run(config, tmp_path / "run", progress=False)
    assert 30 <= json.loads((tmp_path / "run" / "checkpoint.json").read_text())["iteration"] < 60


# ---- generation -------------------------------------------------------------------------------
class RecordingLM:
    """A fake language model that records the generator's calls; its logits always favour
    the token after the last one fed (mod V)."""

    def __init__(self, block_size, vocab_size=10):
        self.block_size, self.vocab_size = block_size, vocab_size
        self.calls = []
        self.training = True

    def eval(self):
        self.training = False
        return self

    def train(self, mode=True):
        self.training = mode
        return self

    def _logits(self, last):
        out = np.zeros((len(last), self.vocab_size), np.float32)
        out[np.arange(len(last)), (last + 1) % self.vocab_size] = 10
        return out

    def prefill(self, idx):
        assert idx.dtype == np.int64 and idx.ndim == 2
        self.calls.append(("prefill", idx[0].tolist()))
        return self._logits(idx[:, -1]), len(idx[0])

    def decode(self, token, cache):
        assert token.shape == (1,)
        self.calls.append(("decode", int(token[0])))
        return self._logits(token), cache + 1


def test_prefill_then_decode_then_sliding_prefill():
    model = RecordingLM(block_size=4)
    streamed = []
    out = generate(model, [0, 1], 5, temperature=0, on_token=streamed.append)
    assert out == [0, 1, 2, 3, 4, 5, 6] and streamed == [2, 3, 4, 5, 6]
    assert model.calls == [("prefill", [0, 1]), ("decode", 2), ("decode", 3),
                           ("prefill", [1, 2, 3, 4]), ("prefill", [2, 3, 4, 5])]
    assert model.training  # the mode is given back


def test_long_prompt_is_cut_to_the_block_and_unbounded_models_always_decode():
    model = RecordingLM(block_size=3)
    generate(model, [0, 1, 2, 3, 4], 2, temperature=0)
    assert model.calls == [("prefill", [2, 3, 4]), ("prefill", [3, 4, 5])]
    model = RecordingLM(block_size=None)
    generate(model, list(range(6)), 4, temperature=0)
    assert model.calls == [("prefill", list(range(6))), ("decode", 6), ("decode", 7),
                           ("decode", 8)]
    assert generate(RecordingLM(2), [1], 0) == [1]


def test_sampling_temperature_top_k_and_seed():
    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.4]]))
    draws = np.array([sample_next(logits, 1.0, None, np.random.default_rng(s))[0]
                      for s in range(2000)])
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 2000, [0.1, 0.2, 0.3, 0.4],
                               atol=0.04)
    rng = np.random.default_rng(0)
    top2 = {int(sample_next(logits, 1.0, 2, rng)[0]) for _ in range(300)}
    assert top2 == {2, 3}
    assert {int(sample_next(logits, 1.0, 1, rng)[0]) for _ in range(50)} == {3}
    assert sample_next(logits, 0, None, rng)[0] == 3
    cold = {int(sample_next(logits, 0.01, None, rng)[0]) for _ in range(100)}
    assert cold == {3}
    for bad in ({"temperature": -1}, {"top_k": 0}, {"max_new_tokens": -1}):
        kwargs = {"max_new_tokens": 3, **bad}
        with pytest.raises(GenerateError):
            generate(RecordingLM(None), [1], **kwargs)
    with pytest.raises(GenerateError, match="empty"):
        generate(RecordingLM(None), [], 3)


@pytest.fixture(scope="module")
def phrase_run(tmp_path_factory):
    """A bigram trained on a repeated phrase for a few hundred iterations."""
    tmp = tmp_path_factory.mktemp("phrase")
    data = text_file(tmp)
    run = tmp / "run"
    session.train_run(lm_config(f"text:{data}", max_iters=300, eval_interval=100, lr=0.1),
                      run, progress=False)
    return run


def test_trained_bigram_reproduces_its_phrase(phrase_run):
    model, vocab, _ = session.load_language_run(phrase_run)
    text = generate_text(model, vocab, "a", 3 * len(PHRASE), temperature=0.05, seed=1)
    assert text == ("a" + (PHRASE * 4)[1:])[:1 + 3 * len(PHRASE)]
    a = generate_text(model, vocab, "c", 50, temperature=3.0, seed=7)
    b = generate_text(model, vocab, "c", 50, temperature=3.0, seed=7)
    c = generate_text(model, vocab, "c", 50, temperature=3.0, seed=8)
    assert a == b and a != c
    with pytest.raises(GenerateError, match="'z'"):
        generate_text(model, vocab, "abz", 5)


def test_generate_cli_streams_and_errors_in_one_line(phrase_run, capsys):
    assert main(["generate", str(phrase_run), "--prompt", "def", "--max-new-tokens", "12",
                 "--temperature", "0", "--seed", "3"]) == 0
    assert capsys.readouterr().out == "defgh\nabcdefgh\n\n"
    assert main(["generate", str(phrase_run), "--max-new-tokens", "3", "--top-k", "1"]) == 0
    assert capsys.readouterr().out == "\nabc\n"  # the default prompt is a newline
    assert main(["generate", str(phrase_run), "--prompt", "xyz"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'x'" in err and "vocabulary" in err
    with pytest.raises(SystemExit):
        main(["generate", str(phrase_run), "--temperature", "-1"])
    assert main(["evaluate", str(phrase_run), "--json"]) == 0


def test_generate_refuses_an_image_run_and_evaluate_an_image_run_still_works(tmp_path,
                                                                              capsys):
    assert main(["generate", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


# ---- resume after SIGKILL -----------------------------------------------------------------------
@pytest.mark.slow
def test_sigkill_mid_run_then_resume_is_bit_identical(tmp_path):
    data = text_file(tmp_path, "".join(np.random.default_rng(0).choice(list("abcdefg \n"),
                                                                     size=20000)))
    args = ["--model", "bigram", "--dataset", f"text:{data}", "--max-iters", "1200",
            "--eval-interval", "20", "--eval-iters", "2", "--block-size", "32",
            "--batch-size", "32", "--optimizer", "adamw", "--weight-decay", "0.1",
            "--lr-schedule", "warmup_cosine", "--warmup-iters", "50", "--beta2", "0.99",
            "--clip-grad-norm", "1.0", "--ema", "0.9", "--quiet"]
    full, killed, at_kill = kill_and_resume(args, tmp_path,
                                            lambda meta: meta["iteration"] >= 100)
    assert at_kill["iteration"] < 1200, "the run finished before it could be killed"
    a, b = (load_safetensors(d / "model.safetensors") for d in (full, killed))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)

    def records(d):
        return [{k: v for k, v in json.loads(x).items() if k != "seconds"}
                for x in (d / "metrics.jsonl").read_text().splitlines()]

    assert len(records(full)) == 60 and records(full) == records(killed)
    va, vb = (json.loads((d / "val_metrics.json").read_text()) for d in (full, killed))
    assert va["loss"] == vb["loss"]
