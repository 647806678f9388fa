"""The local backend's reading of the SageMaker optimizer hyperparameters (beta_1, beta_2, eps for
adam; gamma for rmsprop), the ones it says it ignores, and the optimizer it really builds."""

from __future__ import annotations

import pytest

from ops.hyperparameters import LOCAL_IGNORED, local_optimizer_options
from ops.settings import load_settings


def settings_with(**hp):
    return load_settings(
        environ={
            "DOGBREED_LOCAL__RECIPE": "sagemaker",
            **{f"DOGBREED_HYPERPARAMETERS__{k.upper()}": str(v) for k, v in hp.items()},
        }
    )


def test_adam_takes_beta_1_beta_2_and_eps_and_ignores_gamma():
    s = settings_with(optimizer="adam", beta_1=0.8, beta_2=0.99, eps=1e-6, gamma=0.5)
    options, ignored = local_optimizer_options(s.hyperparameters)
    assert options["betas"] == (0.8, 0.99) and options["eps"] == 1e-6
    assert "gamma" in ignored and "momentum" in ignored and "beta_1" not in ignored
    assert set(LOCAL_IGNORED) <= set(ignored)  # multi_label, use_weighted_loss, kv_store, ...


def test_rmsprop_takes_gamma_as_its_decay_and_ignores_the_betas():
    s = settings_with(optimizer="rmsprop", gamma=0.7, eps=1e-7, momentum=0.5)
    options, ignored = local_optimizer_options(s.hyperparameters)
    assert (options["alpha"], options["eps"], options["momentum"]) == (0.7, 1e-7, 0.5)
    assert {"beta_1", "beta_2"} <= set(ignored)


def test_the_local_recipe_builds_torch_optimizers_with_them():
    torch = pytest.importorskip("torch", reason="the local extra (torch) is not installed")
    from ops.train.local.recipe import make_optimizer, make_recipe

    params = [torch.nn.Parameter(torch.zeros(2))]
    adam = make_optimizer(params, make_recipe(settings_with(optimizer="adam", beta_1=0.8)))
    assert isinstance(adam, torch.optim.Adam)
    assert adam.param_groups[0]["betas"] == (0.8, 0.999) and adam.param_groups[0]["eps"] == 1e-8
    recipe = make_recipe(settings_with(optimizer="rmsprop", gamma=0.6))
    rms = make_optimizer(params, recipe)
    assert rms.param_groups[0]["alpha"] == 0.6
    assert "multi_label" in recipe.ignored_hyperparameters
    assert recipe.checkpoint_frequency == 1  # 0 ("not sent" to SageMaker) still checkpoints locally
