"""The local backend: timm model + offline weights, training, feature cache, ONNX export, model server."""
