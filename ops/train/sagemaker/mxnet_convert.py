"""The built-in algorithm's MXNet model -> ONNX, run by the isolated MXNet interpreter only.

MXNet 1.9.1 needs numpy < 1.24, so this file is never imported by the project's environment:
ops/train/sagemaker/import_model.py runs it as a script with `.venv-mxnet/bin/python` (`make
.venv-mxnet/.installed`). It imports only the standard library, mxnet, numpy and onnx.

    python mxnet_convert.py MODEL_DIR EPOCH IMAGES.npy OUT_DIR

reads MODEL_DIR/image-classification-{symbol.json,EPOCH.params}, writes OUT_DIR/model.onnx
(MXNet's own exporter, mx.onnx.export_model; input "input" [N,3,H,W] raw 0-255 RGB, output
"probabilities" [N,C]: softmax over the logits SoftmaxOutput reads), OUT_DIR/mxnet_outputs.npy (MXNet's forward
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


def _logits(symbol):
    """The logits SoftmaxOutput reads: SoftmaxOutput is a training op with a label input, and
    MXNet exports its inference softmax with shape arithmetic that pins the batch size when
    traced, so the graph gets one plain ONNX Softmax after the exported logits instead."""
    if json.loads(symbol.tojson())["nodes"][-1]["op"] != "SoftmaxOutput":
        raise ValueError("the symbol does not end in SoftmaxOutput: not the built-in algorithm's")
    return symbol.get_children()[0]


def _export(symbol, args, aux, shape, path: Path, classes: int) -> None:
    """mx.onnx.export_model of the logits with a dynamic batch, then softmax and the project's
    input/output names; only the data input stays a graph input."""
    import mxnet as mx
    import numpy as np
    import onnx

    mx.onnx.export_model(
        _logits(symbol),
        {**args, **aux},
        in_shapes=[(1, *shape)],
        in_types=[np.float32],
        onnx_file_path=str(path),
        dynamic=True,
        dynamic_input_shapes=[(None, *shape)],
    )
    model = onnx.load(str(path))
    _tidy(model.graph, classes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _tidy(graph, classes: int) -> None:
    """The project's names, softmax appended, only reachable nodes kept. FullyConnected exports
    as Gemm (always 2-d, [N,C]) then a Reshape to Shape(input)[:-1] + [C], which is [N,C] again
    for the algorithm's flattened input: the softmax reads the Gemm, so no shape arithmetic is
    left to pin the batch size when the graph is traced (model.ts). Weights listed as graph
    inputs too would block constant folding: only the data input stays an input."""
    import onnx

    weights = {init.name for init in graph.initializer}
    data = [value for value in graph.input if value.name not in weights]
    del graph.input[:]
    graph.input.extend(data)
    old = graph.input[0].name
    graph.input[0].name = "input"
    for node in graph.node:
        node.input[:] = ["input" if n == old else n for n in node.input]
    producer = {out: node for node in graph.node for out in node.output}
    last = producer[graph.output[0].name]
    gemm = producer.get(last.input[0]) if last.op_type == "Reshape" else None
    logits = gemm.output[0] if gemm is not None and gemm.op_type == "Gemm" else last.output[0]
    graph.node.append(onnx.helper.make_node("Softmax", [logits], ["probabilities"], axis=1))
    del graph.output[:]
    graph.output.append(
        onnx.helper.make_tensor_value_info(
            "probabilities", onnx.TensorProto.FLOAT, ["batch", classes]
        )
    )
    needed, keep = {"probabilities"}, []
    for node in reversed(graph.node):
        if any(out in needed for out in node.output):
            keep.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    kept = [init for init in graph.initializer if init.name in needed]
    del graph.initializer[:]  # the constants of the dropped shape arithmetic
    graph.initializer.extend(kept)


def main(argv: list[str]) -> int:
    import numpy as np

    model_dir, epoch, images, out = Path(argv[0]), int(argv[1]), Path(argv[2]), Path(argv[3])
    symbol, args, aux = _load(model_dir, epoch)
    report = _report(symbol, args, aux)
    batch = np.load(images).astype(np.float32)
    np.save(out / "mxnet_outputs.npy", _forward(symbol, args, aux, batch))
    _export(symbol, args, aux, tuple(batch.shape[1:]), out / "model.onnx", report["num_classes"])
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
