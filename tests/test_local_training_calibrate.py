"""Temperature scaling: the fit recovers a known temperature and folding keeps every prediction.
(Training with calibration end to end: tests/test_local_train.py.)"""

from __future__ import annotations

import pytest
import torch

from ops.train.local.calibrate import fit_temperature, fold_temperature, holdout_split, quality


def _sampled(n=6000, classes=12, seed=0):
    """True logits z and labels drawn from softmax(z): logits z are calibrated by construction."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, classes, generator=gen) * 3
    labels = torch.multinomial(torch.softmax(z, 1), 1, generator=gen).squeeze(1)
    return z, labels


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.5])
def test_fit_recovers_the_temperature_that_undoes_a_scaling(scale):
    z, labels = _sampled()
    t = fit_temperature(z * scale, labels)
    assert t == pytest.approx(scale, rel=0.1)
    # dividing by the fitted T makes the logits as good as the true ones
    assert quality(z * scale / t, labels)["nll"] <= quality(z * scale, labels)["nll"] + 1e-6


def test_folding_divides_the_logits_and_keeps_predictions():
    torch.manual_seed(0)
    layer = torch.nn.Linear(16, 5)
    x = torch.randn(64, 16)
    before = layer(x).detach()
    fold_temperature(layer, 0.4)
    after = layer(x).detach()
    assert torch.allclose(after, before / 0.4, atol=1e-5)
    assert torch.equal(after.argmax(1), before.argmax(1))


def test_holdout_split_is_a_seeded_partition():
    kept, held = holdout_split(101, 0.2, seed=3)
    assert len(held) == 20 and sorted(kept + held) == list(range(101))
    assert holdout_split(101, 0.2, seed=3) == (kept, held)
    assert holdout_split(101, 0.2, seed=4)[1] != held
    with pytest.raises(ValueError):
        holdout_split(10, 1.0, seed=0)


def test_underconfident_logits_get_a_temperature_below_one_and_a_lower_ece():
    z, labels = _sampled(seed=1)
    flat = z * 0.4  # what a head from 1,000-way ImageNet rows looks like on 120 breeds
    t = fit_temperature(flat, labels)
    assert t < 1.0
    assert quality(flat / t, labels)["ece"] < quality(flat, labels)["ece"] / 2
