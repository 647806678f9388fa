"""The model endpoint: the ONNX model server (SageMaker runtime API), batching, HTTP hardening; `predict`."""
