"""Builds a small model in SageMaker's built-in image-classification format, with MXNet.

Run with the isolated MXNet interpreter (`make .venv-mxnet/.installed`), never imported by the
tests' own interpreter:

    .venv-mxnet/bin/python tests/mxnet_builtin_model.py build OUT --classes 3 --size 64 --epoch 3
    .venv-mxnet/bin/python tests/mxnet_builtin_model.py forward OUT --epoch 3 IN.npy OUT.npy

The graph is the algorithm's ResNet v2 (num_layers 18, or 50 with --layers 50) with its layer names, as its
image-classification-symbol.json has them: data -> id (_copy) -> bn_data (BatchNorm on the raw
0-255 pixels, fix_gamma) -> conv0 -> bn0 -> relu0 -> pooling0 -> stageS_unitU_{bn1,relu1,conv1,bn2,
relu2,conv2,sc} -> bn1 -> relu1 -> pool1 -> flatten0 -> fc -> softmax (SoftmaxOutput). The
model.tar.gz holds image-classification-symbol.json, image-classification-NNNN.params and
model-shapes.json at its root, as the algorithm writes it. Params are random (seeded), with
bn_data's statistics those of 0-255 pixels so the normalisation inside the graph is real.
"""

from __future__ import annotations

import argparse
import json
import tarfile
from pathlib import Path

import mxnet as mx
import numpy as np

PREFIX = "image-classification"
BN = {"eps": 2e-5, "momentum": 0.9}


def _unit(data, filters: int, stride: int, dim_match: bool, name: str):
    """One pre-activation basic block (ResNet v2, num_layers < 50)."""
    sym = mx.sym
    bn1 = sym.BatchNorm(data, fix_gamma=False, name=f"{name}_bn1", **BN)
    act1 = sym.Activation(bn1, act_type="relu", name=f"{name}_relu1")
    conv1 = sym.Convolution(
        act1, num_filter=filters, kernel=(3, 3), stride=(stride, stride), pad=(1, 1),
        no_bias=True, workspace=256, name=f"{name}_conv1",
    )  # fmt: skip
    bn2 = sym.BatchNorm(conv1, fix_gamma=False, name=f"{name}_bn2", **BN)
    act2 = sym.Activation(bn2, act_type="relu", name=f"{name}_relu2")
    conv2 = sym.Convolution(
        act2, num_filter=filters, kernel=(3, 3), stride=(1, 1), pad=(1, 1), no_bias=True,
        workspace=256, name=f"{name}_conv2",
    )  # fmt: skip
    if dim_match:
        return conv2 + data
    shortcut = sym.Convolution(
        act1, num_filter=filters, kernel=(1, 1), stride=(stride, stride), no_bias=True,
        workspace=256, name=f"{name}_sc",
    )  # fmt: skip
    return conv2 + shortcut


def _bottleneck(data, filters: int, stride: int, dim_match: bool, name: str):
    """One pre-activation bottleneck block (ResNet v2, num_layers >= 50)."""
    sym, quarter, body = mx.sym, filters // 4, data
    act1 = None
    for i, (out, kernel, step) in enumerate(
        ((quarter, 1, 1), (quarter, 3, stride), (filters, 1, 1)), start=1
    ):
        bn = sym.BatchNorm(body, fix_gamma=False, name=f"{name}_bn{i}", **BN)
        act = sym.Activation(bn, act_type="relu", name=f"{name}_relu{i}")
        act1 = act if i == 1 else act1
        body = sym.Convolution(
            act, num_filter=out, kernel=(kernel, kernel), stride=(step, step),
            pad=(kernel // 2, kernel // 2), no_bias=True, workspace=256, name=f"{name}_conv{i}",
        )  # fmt: skip
    if dim_match:
        return body + data
    shortcut = sym.Convolution(
        act1, num_filter=filters, kernel=(1, 1), stride=(stride, stride), no_bias=True,
        workspace=256, name=f"{name}_sc",
    )  # fmt: skip
    return body + shortcut


# num_layers -> (units per stage, filters per stage, block): the algorithm's depths 18 and 50
DEPTHS = {
    18: ((2, 2, 2, 2), (64, 128, 256, 512), _unit),
    50: ((3, 4, 6, 3), (256, 512, 1024, 2048), _bottleneck),
}


def resnet(num_classes: int, num_layers: int = 18):
    """The algorithm's ResNet symbol (names as in its image-classification-symbol.json)."""
    sym = mx.sym
    data = sym.identity(sym.Variable("data"), name="id")
    body = sym.BatchNorm(data, fix_gamma=True, name="bn_data", **BN)
    body = sym.Convolution(
        body, num_filter=64, kernel=(7, 7), stride=(2, 2), pad=(3, 3), no_bias=True,
        workspace=256, name="conv0",
    )  # fmt: skip
    body = sym.BatchNorm(body, fix_gamma=False, name="bn0", **BN)
    body = sym.Activation(body, act_type="relu", name="relu0")
    body = sym.Pooling(
        body, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max", name="pooling0"
    )
    units, widths, block = DEPTHS[num_layers]
    for stage, (count, filters) in enumerate(zip(units, widths, strict=True), start=1):
        body = block(body, filters, 1 if stage == 1 else 2, False, f"stage{stage}_unit1")
        for unit in range(2, count + 1):
            body = block(body, filters, 1, True, f"stage{stage}_unit{unit}")
    body = sym.BatchNorm(body, fix_gamma=False, name="bn1", **BN)
    body = sym.Activation(body, act_type="relu", name="relu1")
    body = sym.Pooling(body, global_pool=True, kernel=(7, 7), pool_type="avg", name="pool1")
    body = sym.Flatten(body, name="flatten0")
    body = sym.FullyConnected(body, num_hidden=num_classes, name="fc")
    return sym.SoftmaxOutput(body, name="softmax")


def random_params(symbol, size: int, seed: int):
    """Seeded random weights and batch-norm statistics; bn_data sees 0-255 pixels."""
    rng = np.random.default_rng(seed)
    arg_shapes, _, aux_shapes = symbol.infer_shape(data=(1, 3, size, size))
    args, aux = {}, {}
    for name, shape in zip(symbol.list_arguments(), arg_shapes, strict=True):
        if name in ("data", "softmax_label"):
            continue
        if name.endswith("_gamma"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("_beta") or name.endswith("_bias"):
            value = rng.normal(0, 0.1, shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            value = rng.normal(0, np.sqrt(2.0 / fan_in), shape)
        args[name] = mx.nd.array(value.astype(np.float32))
    for name, shape in zip(symbol.list_auxiliary_states(), aux_shapes, strict=True):
        if name == "bn_data_moving_mean":
            value = rng.uniform(100, 130, shape)
        elif name == "bn_data_moving_var":
            value = rng.uniform(3000, 5000, shape)
        elif name.endswith("_moving_mean"):
            value = rng.normal(0, 0.2, shape)
        else:
            value = rng.uniform(0.5, 2.0, shape)
        aux[name] = mx.nd.array(value.astype(np.float32))
    args["fc_weight"] *= 0.05  # probabilities far from 0 and 1, so the comparisons mean something
    return args, aux


def build(out: Path, classes: int, size: int, epoch: int, seed: int, layers: int = 18) -> Path:
    """The loose files and model.tar.gz in `out`; returns the tarball."""
    out.mkdir(parents=True, exist_ok=True)
    symbol = resnet(classes, layers)
    args, aux = random_params(symbol, size, seed)
    mx.model.save_checkpoint(str(out / PREFIX), epoch, symbol, args, aux)
    shapes = [{"shape": [32, 3, size, size], "name": "data"}]
    (out / "model-shapes.json").write_text(json.dumps(shapes))
    tar_path = out / "model.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        for name in (f"{PREFIX}-symbol.json", f"{PREFIX}-{epoch:04d}.params", "model-shapes.json"):
            tar.add(out / name, arcname=name)
    return tar_path


def forward(model_dir: Path, epoch: int, images: Path, out: Path) -> None:
    """MXNet's own forward pass, as users of the algorithm run it (Module.load, raw pixels)."""
    batch = np.load(images)
    module = mx.mod.Module.load(str(model_dir / PREFIX), epoch, context=mx.cpu())
    module.bind(
        for_training=False,
        data_shapes=[("data", batch.shape)],
        label_shapes=[("softmax_label", (batch.shape[0],))],
    )
    module.forward(mx.io.DataBatch([mx.nd.array(batch)]), is_train=False)
    np.save(out, module.get_outputs()[0].asnumpy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    b = sub.add_parser("build")
    b.add_argument("out", type=Path)
    b.add_argument("--classes", type=int, default=3)
    b.add_argument("--size", type=int, default=64)
    b.add_argument("--epoch", type=int, default=3)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--layers", type=int, choices=sorted(DEPTHS), default=18)
    f = sub.add_parser("forward")
    f.add_argument("model_dir", type=Path)
    f.add_argument("--epoch", type=int, default=3)
    f.add_argument("images", type=Path)
    f.add_argument("out", type=Path)
    a = parser.parse_args()
    if a.verb == "build":
        print(build(a.out, a.classes, a.size, a.epoch, a.seed, a.layers))
    else:
        forward(a.model_dir, a.epoch, a.images, a.out)


if __name__ == "__main__":
    main()
