"""The built-in algorithm's MXNet model -> ONNX, run by the isolated MXNet interpreter only.

MXNet 1.9.1 needs numpy < 1.24, so this file is never imported by the project's environment:
ops/aws/import_model.py runs it as a script with `.venv-mxnet/bin/python` (`make
.venv-mxnet/.installed`). It imports only the standard library, mxnet, numpy and onnx.

    python mxnet_convert.py MODEL_DIR EPOCH IMAGES.npy OUT_DIR

reads MODEL_DIR/image-classification-{symbol.json,EPOCH.params}, writes OUT_DIR/model.onnx
(MXNet's own exporter, mx.onnx.export_model; input "input" [N,3,H,W] raw 0-255 RGB, output
"probabilities" [N,C]: the graph's own SoftmaxOutput), OUT_DIR/mxnet_outputs.npy (MXNet's forward
pass on IMAGES.npy, the reference the caller compares ONNX Runtime with) and OUT_DIR/report.json
(the first layers, bn_data's statistics, the class count, versions). A failure is one line on
stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PREFIX = "image-classification"


def _load(model_dir: Path, epoch: int):
    """(symbol, arg_params, aux_params) of the checkpoint; fix_gamma layers get gamma = 1, which
    is what MXNet computes with (the exporter would otherwise use the stored gamma)."""
    import mxnet as mx

    symbol, args, aux = mx.model.load_checkpoint(str(model_dir / PREFIX), epoch)
    for node in json.loads(symbol.tojson())["nodes"]:
        attrs = node.get("attrs") or {}
        if node["op"] == "BatchNorm" and attrs.get("fix_gamma", "True") == "True":
            gamma = f"{node['name']}_gamma"
            if gamma in args:
                args[gamma] = mx.nd.ones_like(args[gamma])
    return symbol, args, aux


def _report(symbol, args, aux) -> dict:
    """What the caller checks and records: the first layers and the class count."""
    import mxnet as mx
    import onnx

    nodes = [n for n in json.loads(symbol.tojson())["nodes"] if n["op"] != "null"]
    fc = [n for n in nodes if n["op"] == "FullyConnected"]
    mean, var = aux.get("bn_data_moving_mean"), aux.get("bn_data_moving_var")
    return {
        "first_layers": [[n["op"], n["name"]] for n in nodes[:4]],
        "last_layers": [[n["op"], n["name"]] for n in nodes[-3:]],
        "num_classes": int(args[f"{fc[-1]['name']}_weight"].shape[0]) if fc else None,
        "bn_data": None
        if mean is None or var is None
        else {"moving_mean": mean.asnumpy().tolist(), "moving_var": var.asnumpy().tolist()},
        "mxnet_version": mx.__version__,
        "onnx_version": onnx.__version__,
    }


def _forward(symbol, args, aux, batch):
    """MXNet's own forward pass (inference mode), as users of the algorithm run the model."""
    import mxnet as mx

    module = mx.mod.Module(symbol, context=mx.cpu(), label_names=("softmax_label",))
    module.bind(
        for_training=False,
        data_shapes=[("data", batch.shape)],
        label_shapes=[("softmax_label", (batch.shape[0],))],
    )
    module.set_params(args, aux, allow_missing=False, allow_extra=True)
    module.forward(mx.io.DataBatch([mx.nd.array(batch)]), is_train=False)
    return module.get_outputs()[0].asnumpy()


def _inference_symbol(symbol):
    """SoftmaxOutput (a training op with a label input) as the plain softmax it computes at
    inference, over the same logits: the exporter then sees one input, `data`."""
    import mxnet as mx

    if json.loads(symbol.tojson())["nodes"][-1]["op"] != "SoftmaxOutput":
        raise ValueError("the symbol does not end in SoftmaxOutput: not the built-in algorithm's")
    return mx.sym.softmax(symbol.get_children()[0], axis=1, name="probabilities")


def _export(symbol, args, aux, shape, path: Path) -> None:
    """mx.onnx.export_model with a dynamic batch, then the project's input/output names."""
    import mxnet as mx
    import numpy as np
    import onnx

    params = {**args, **aux}
    mx.onnx.export_model(
        _inference_symbol(symbol),
        params,
        in_shapes=[(1, *shape)],
        in_types=[np.float32],
        onnx_file_path=str(path),
        dynamic=True,
        dynamic_input_shapes=[(None, *shape)],
    )
    model = onnx.load(str(path))
    weights = {init.name for init in model.graph.initializer}
    data = [value for value in model.graph.input if value.name not in weights]
    del model.graph.input[:]  # weights listed as inputs too would block constant folding
    model.graph.input.extend(data)
    renames = {model.graph.input[0].name: "input", model.graph.output[0].name: "probabilities"}
    for value in list(model.graph.input) + list(model.graph.output):
        value.name = renames.get(value.name, value.name)
    for node in model.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    used = {name for node in model.graph.node for name in node.input}
    kept = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]  # the exporter leaves softmax's unused constants behind
    model.graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def main(argv: list[str]) -> int:
    import numpy as np

    model_dir, epoch, images, out = Path(argv[0]), int(argv[1]), Path(argv[2]), Path(argv[3])
    symbol, args, aux = _load(model_dir, epoch)
    report = _report(symbol, args, aux)
    batch = np.load(images).astype(np.float32)
    np.save(out / "mxnet_outputs.npy", _forward(symbol, args, aux, batch))
    _export(symbol, args, aux, tuple(batch.shape[1:]), out / "model.onnx")
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception as exc:  # noqa: BLE001 - one line for the caller, whatever MXNet raised
        # MXNet's messages carry its C++ stack first: the cause is the last line
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        message = lines[-1].removeprefix("MXNetError: ") if lines else type(exc).__name__
        print(f"{type(exc).__name__}: {message[:400]}", file=sys.stderr)
        sys.exit(2)
