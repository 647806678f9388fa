"""The built-in image-classification algorithm's hyperparameters: documented types, ranges, rules.

One table (`SPEC`) written from AWS's reference page
https://docs.aws.amazon.com/sagemaker/latest/dg/IC-Hyperparameter.html, checked when settings are
loaded (`check_hyperparameters`), so a value SageMaker would reject after minutes of provisioning
is refused before any AWS call. moto accepts any string. `local_optimizer_options` says what the
local PyTorch backend makes of the optimizer parameters, and which parameters it ignores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ops.errors import DogbreedError

DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/IC-Hyperparameter.html"
UNSET = (0, "", None)  # hyperparameters with these values are not sent (the algorithm's default)


@dataclass(frozen=True)
class Rule:
    """One hyperparameter's documented type and valid values; `optional` ones may be left unset."""

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is not valid ("positive")
    choices: tuple = ()
    optional: bool = False  # 0 / "" means "not sent"

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        if self.low is not None and self.high is not None:
            return f"a {self.kind.__name__} in [{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"a {self.kind.__name__} {'>' if self.low_open else '>='} {self.low:g}"
        return f"a {self.kind.__name__}"


POSITIVE = {"kind": int, "low": 0, "low_open": True}
UNIT = {"kind": float, "low": 0.0, "high": 1.0}
SPEC: dict[str, Rule] = {
    "num_classes": Rule(**POSITIVE, optional=True),  # 0 = from info.json
    "num_training_samples": Rule(**POSITIVE, optional=True),  # 0 = from info.json
    "augmentation_type": Rule(
        str, choices=("crop", "crop_color", "crop_color_transform"), optional=True
    ),
    "beta_1": Rule(**UNIT),
    "beta_2": Rule(**UNIT),
    "checkpoint_frequency": Rule(**POSITIVE, optional=True),  # <= epochs, checked below
    "early_stopping": Rule(bool),
    "early_stopping_min_epochs": Rule(**POSITIVE),
    "early_stopping_patience": Rule(**POSITIVE),
    "early_stopping_tolerance": Rule(**UNIT),
    "epochs": Rule(**POSITIVE),
    "eps": Rule(**UNIT),
    "gamma": Rule(**UNIT),
    "image_shape": Rule(str),  # "channels,height,width", checked below
    "kv_store": Rule(str, choices=("dist_sync", "dist_async"), optional=True),
    "learning_rate": Rule(**UNIT),
    "lr_scheduler_factor": Rule(**UNIT),
    "lr_scheduler_step": Rule(str, optional=True),  # "10,20": increasing epochs, checked below
    "mini_batch_size": Rule(**POSITIVE),
    "momentum": Rule(**UNIT),
    "multi_label": Rule(int, choices=(0, 1)),
    "num_layers": Rule(int, choices=(18, 34, 50, 101, 152, 200, 20, 32, 44, 56, 110)),
    "optimizer": Rule(str, choices=("sgd", "adam", "rmsprop", "nag")),
    "precision_dtype": Rule(str, choices=("float32", "float16")),
    "resize": Rule(int, low=1, low_open=True, optional=True),
    "top_k": Rule(int, low=1, low_open=True, optional=True),  # "has to be greater than 1"
    "use_pretrained_model": Rule(int, choices=(0, 1)),
    "use_weighted_loss": Rule(int, choices=(0, 1)),
    "weight_decay": Rule(**UNIT),
}
SMALL_IMAGE_LAYERS = (20, 32, 44, 56, 110)  # the docs' depths for images smaller than 28x28
# Checkpoints kept in model.tar.gz: each is a full copy of the weights (about 90 MB for
# ResNet-50), and the docs say the artifact grows with every one of them.
MAX_CHECKPOINTS_IN_ARTIFACT = 5


def _fail(name: str, message: str, hint: str | None = None) -> DogbreedError:
    return DogbreedError(f"hyperparameters.{name} {message} ({DOC})", exit_code=2, hint=hint)


def check_value(name: str, value: Any) -> None:
    """One hyperparameter against its documented type and valid values."""
    rule = SPEC[name]
    if rule.optional and (value in UNSET and not isinstance(value, bool)):
        return
    if rule.choices:
        if value not in rule.choices or isinstance(value, bool) != (rule.kind is bool):
            raise _fail(name, f"must be {rule.describe()}, not {value!r}")
        return
    if rule.kind in (int, float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int past any float: outside every range
            number = math.inf
        if math.isnan(number) or math.isinf(number):
            raise _fail(name, f"must be {rule.describe()}, not {value!r}")
        too_low = rule.low is not None and (
            number <= rule.low if rule.low_open else number < rule.low
        )
        too_high = rule.high is not None and number > rule.high
        if too_low or too_high:
            raise _fail(name, f"must be {rule.describe()}, not {value!r}")


def image_shape(value: str) -> tuple[int, int, int]:
    """(channels, height, width) of "3,224,224"."""
    parts = [p.strip() for p in str(value).split(",")]
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise _fail("image_shape", f"must look like '3,224,224', not {value!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def check_hyperparameters(hp: Any) -> None:
    """Every field of settings.hyperparameters, then the rules that span fields."""
    values = vars(hp)
    for name, value in values.items():
        if name in SPEC:
            check_value(name, value)
    channels, height, width = image_shape(values["image_shape"])
    if channels not in (1, 3):
        raise _fail("image_shape", f"must have 1 or 3 channels, not {channels}")
    if values["num_layers"] in SMALL_IMAGE_LAYERS and max(height, width) >= 28:
        raise _fail(
            "num_layers",
            f"{values['num_layers']} is for images smaller than 28x28; use 18, 34, 50, 101, 152 or 200",
        )
    frequency, epochs = values["checkpoint_frequency"], values["epochs"]
    if frequency:
        if frequency > epochs:
            raise _fail("checkpoint_frequency", f"must not exceed epochs ({epochs})")
        if math.ceil(epochs / frequency) > MAX_CHECKPOINTS_IN_ARTIFACT:
            raise _fail(
                "checkpoint_frequency",
                f"= {frequency} with {epochs} epochs keeps {math.ceil(epochs / frequency)}"
                f" checkpoints in model.tar.gz (at most {MAX_CHECKPOINTS_IN_ARTIFACT})",
                hint="leave it 0: the algorithm then keeps only the best epoch's checkpoint",
            )
    steps = [s.strip() for s in str(values["lr_scheduler_step"]).split(",") if s.strip()]
    if steps and (
        not all(s.isdigit() for s in steps)
        or [int(s) for s in steps] != sorted(set(map(int, steps)))
    ):
        raise _fail("lr_scheduler_step", "must be increasing epoch numbers such as '30,60,90'")
    if values["resize"] and values["resize"] < max(height, width):
        raise _fail(
            "resize",
            f"= {values['resize']} must be at least image_shape's height and width ({height}x{width})",
        )


def check_resize(hp: Any, info: dict[str, Any] | None) -> None:
    """`resize` is required when the training images are smaller than image_shape (raw image mode).

    The docs: resize "should be larger than both the width and height components of image_shape
    to prevent training failure"; AWS's LST example notebook sets it to 256. Image sizes come from
    info.json (`dogbreed data prepare`); without them, resize must be set.
    """
    if hp.resize:
        return
    _, height, width = image_shape(hp.image_shape)
    size = (info or {}).get("image_size") or {}
    min_w = (size.get("width") or {}).get("min")
    min_h = (size.get("height") or {}).get("min")
    if min_w is not None and min_h is not None and min_w >= width and min_h >= height:
        return
    seen = (
        f"the smallest images are {min_w} px wide and {min_h} px high"
        if min_w is not None and min_h is not None
        else "the image sizes are unknown (no info.json)"
    )
    raise _fail(
        "resize",
        f"is required: {seen} and image_shape is {height}x{width}",
        hint="set hyperparameters.resize = 256 (AWS's example notebook value)",
    )


# --- the local backend --------------------------------------------------------------------------

# What the local PyTorch backend does with each hyperparameter that is not an optimizer option.
LOCAL_IGNORED = {
    "kv_store": "one process trains locally",
    "multi_label": "the local head is single-label (softmax)",
    "use_weighted_loss": "the local loss is unweighted cross-entropy",
    "top_k": "local training always reports top-1 and top-5",
    "resize": "local preprocessing resizes to the backbone's input size itself",
    "precision_dtype": "local training runs in float32",
    "augmentation_type": "local augmentation is the backbone's own",
    "num_layers": "used only to pick resnetN when local.backbone is a resnet",
}


def local_optimizer_options(
    hp: Any, optimizer: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """torch.optim keyword arguments from the SageMaker names, and the names this optimizer ignores.

    adam: betas=(beta_1, beta_2), eps; rmsprop: alpha=gamma (the decay of the squared-gradient
    average, MXNet's gamma1), eps, momentum; sgd/nag: momentum (nesterov for nag). weight_decay
    applies to all.
    """
    name = (optimizer or hp.optimizer).lower()
    options: dict[str, Any] = {"weight_decay": hp.weight_decay}
    used = {"weight_decay"}
    if name in ("adam", "adamw"):
        options.update(betas=(hp.beta_1, hp.beta_2), eps=hp.eps)
        used |= {"beta_1", "beta_2", "eps"}
    elif name == "rmsprop":
        options.update(alpha=hp.gamma, eps=hp.eps, momentum=hp.momentum)
        used |= {"gamma", "eps", "momentum"}
    elif name in ("sgd", "nag"):
        options.update(momentum=hp.momentum, nesterov=name == "nag" and hp.momentum > 0)
        used |= {"momentum"}
    optimizer_params = {"beta_1", "beta_2", "eps", "gamma", "momentum"}
    ignored = sorted((optimizer_params - used) | set(LOCAL_IGNORED))
    return options, ignored
