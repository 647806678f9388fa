"""The model artifact: ONNX export, reading and checking an artifact folder or model.tar.gz, packaging for AWS."""
