# The SageMaker serving image for a locally trained model: the project's own ONNX model server
# (the code of `dogbreed serve`), started as SageMaker starts a bring-your-own image:
#   docker run IMAGE serve   ->   GET /ping, POST /invocations on :8080, model in /opt/ml/model
# The contract and the SAGEMAKER_* variables it reads: ops/endpoint/container_entrypoint.py.
#
# Build context: .dockerignore is an allowlist of the files the server imports, so the same code
# gives the same context digest and image tag (ops/deploy/container_image.py; `dogbreed deploy`
# stages it under .dogbreed/build/image). The model is not in the image: SageMaker extracts the
# model data (model.tar.gz from S3) into /opt/ml/model.
#
# A GPU variant would differ in three lines: a CUDA runtime base (nvidia/cuda:12.x-cudnn-runtime
# with Python added, or an AWS DLC base), `onnxruntime-gpu` instead of `onnxruntime`, and an
# ml.g* instance (serverless endpoints have no GPU). ops/endpoint/onnx_runtime.py already prefers the
# CUDAExecutionProvider when onnxruntime offers it; nothing else changes.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/opt/program

WORKDIR /opt/program
COPY docker/requirements-serve.txt /opt/program/docker/requirements-serve.txt
RUN pip install --no-compile -r /opt/program/docker/requirements-serve.txt \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin model
COPY lambda_src/ /opt/program/lambda_src/
COPY ops/ /opt/program/ops/

# SageMaker runs containers as root unless told otherwise; the server needs no privilege
# (port 8080, /opt/ml/model read-only, /tmp for an uncompressed model.tar.gz).
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/ping' % os.environ.get('SAGEMAKER_BIND_TO_PORT', '8080'), timeout=2)"]
ENTRYPOINT ["python", "-m", "ops.endpoint.container_entrypoint"]
