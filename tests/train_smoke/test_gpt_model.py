"""The GPT: sizes, tied embedding, causality, and that a seed alone fixes the initial weights."""

from __future__ import annotations

import torch

from train_smoke.model import GPT, config_for


def test_tiny_is_about_a_million_parameters_with_the_embedding_tied_to_the_head():
    model = GPT(config_for("tiny", vocab_size=4096))
    assert model.lm_head.weight is model.wte.weight
    # 2 blocks x (qkv 3C^2 + proj C^2 + mlp 8C^2 + 2 norms C) + embedding V*C + final norm C, C = 128
    c = 128
    assert model.num_params() == 2 * (12 * c * c + 2 * c) + 4096 * c + c  # 918,912


def test_gpt2_124m_has_gpt2_smalls_shape():
    cfg = config_for("gpt2-124m", vocab_size=50257)
    assert (cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size) == (12, 12, 768, 1024)


def test_a_token_never_sees_the_future():
    torch.manual_seed(0)
    model = GPT(config_for("tiny", vocab_size=64, block_size=16)).eval()
    x = torch.randint(0, 64, (1, 16))
    y = x.clone()
    y[0, 10:] = (y[0, 10:] + 1) % 64  # change only positions 10..15
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(y)
    assert torch.equal(a[0, :10], b[0, :10])
    assert not torch.allclose(a[0, 10:], b[0, 10:])


def test_the_seed_alone_fixes_the_initial_weights():
    def model(seed: int) -> GPT:
        torch.manual_seed(seed + 100)  # the global generator plays no part
        return GPT(config_for("tiny", vocab_size=512), seed=seed)

    def weights(seed: int) -> torch.Tensor:
        return torch.nn.utils.parameters_to_vector(model(seed).parameters()).detach()

    assert torch.equal(weights(3), weights(3))
    assert not torch.equal(weights(3), weights(4))
    assert abs(float(model(3).wte.weight.detach().std()) - 0.02) < 0.001  # GPT-2's N(0, 0.02), not N(0, 1)


def test_the_initial_loss_is_that_of_a_uniform_guess():
    torch.manual_seed(0)
    model = GPT(config_for("tiny", vocab_size=512, block_size=32))
    x, y = torch.randint(0, 512, (2, 4, 32))
    _, loss = model(x, y)
    assert abs(loss.item() - torch.log(torch.tensor(512.0)).item()) < 0.1  # ln 512 = 6.24
