# The POST /classify Lambda: a zip built by `dogbreed deploy` (deterministic, so an unchanged
# handler keeps its hash), a role allowed only to invoke one SageMaker endpoint and write its own
# log group, a log group with retention, reserved concurrency and X-Ray tracing. With a layer
# (layer_zip_path) the model runs inside the function and the role invokes nothing. With
# alias_name the function publishes a version per change and callers invoke the alias, whose
# traffic CodeDeploy shifts from one version to the next (rollout.tf).

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  log_group_arn = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/aws/lambda/${var.function_name}"
  model_inside  = var.layer_zip_path != null
}

# The model inside the function: its libraries as a layer, uploaded through S3 (over 50 MB).
# The bucket is versioned, so new layer bytes are a new object version and a new layer version.
resource "aws_s3_object" "layer" {
  count       = local.model_inside ? 1 : 0
  bucket      = var.layer_s3_bucket
  key         = var.layer_s3_key
  source      = var.layer_zip_path
  source_hash = fileexists(var.layer_zip_path) ? filemd5(var.layer_zip_path) : null
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}

resource "aws_lambda_layer_version" "runtime" {
  count                    = local.model_inside ? 1 : 0
  layer_name               = "${var.function_name}-runtime"
  description              = "numpy, Pillow and ONNX Runtime for the model inside ${var.function_name}"
  s3_bucket                = aws_s3_object.layer[0].bucket
  s3_key                   = aws_s3_object.layer[0].key
  s3_object_version        = aws_s3_object.layer[0].version_id
  compatible_runtimes      = [var.runtime]
  compatible_architectures = [var.architecture]
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "LambdaAssumesRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.function_name}-lambda"
  description        = "Execution role of the ${var.function_name} Lambda: invoke one endpoint, write its logs"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "access" {
  dynamic "statement" {
    for_each = var.endpoint_arn == null ? [] : [var.endpoint_arn]
    content {
      sid       = "InvokeTheEndpoint"
      actions   = ["sagemaker:InvokeEndpoint"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }

  dynamic "statement" {
    for_each = var.classes_s3_object_arn == null ? [] : [var.classes_s3_object_arn]
    content {
      sid       = "ReadClassNames"
      actions   = ["s3:GetObject"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "access" {
  name   = "${var.function_name}-access"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.access.json
}

resource "aws_lambda_function" "this" {
  function_name                  = var.function_name
  description                    = local.model_inside ? "POST /classify: batch of images -> the model inside this function" : "POST /classify: batch of images -> SageMaker endpoint ${var.endpoint_name}"
  role                           = aws_iam_role.this.arn
  filename                       = var.zip_path
  source_code_hash               = filebase64sha256(var.zip_path)
  handler                        = "handler.handler"
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  timeout                        = var.timeout
  memory_size                    = var.memory_size
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn
  layers                         = aws_lambda_layer_version.runtime[*].arn
  publish                        = local.alias # a version per change: what the alias shifts to

  environment {
    variables = merge(
      {
        MAX_IMAGES      = tostring(var.max_images)
        MAX_IMAGE_BYTES = tostring(var.max_image_bytes)
        MAX_CONCURRENCY = tostring(var.max_concurrency)
        # The handler answers (naming any unclassified image) before the earlier of its own
        # timeout and API Gateway's integration timeout.
        ANSWER_WITHIN_MS  = tostring(var.api_timeout_ms)
        MAX_PAYLOAD_BYTES = tostring(var.max_payload_bytes)
        LOG_LEVEL         = var.log_level
      },
      # which scorer the handler uses (lambda_src/handler.py): the endpoint, or the model in the zip
      local.model_inside ? { CLASSIFY_BACKEND = "model" } : { CLASSIFY_BACKEND = "endpoint", ENDPOINT_NAME = var.endpoint_name },
      var.classes_s3_uri == null ? {} : { CLASSES_S3_URI = var.classes_s3_uri },
      length(var.cors_allowed_origins) == 0 ? {} : { CORS_ALLOWED_ORIGINS = join(",", var.cors_allowed_origins) },
      var.environment,
    )
  }

  tracing_config {
    mode = "Active"
  }

  tags = var.tags

  # The log group exists (with its retention) before the function can write to it.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.access]

  lifecycle {
    # API Gateway gives up after its integration timeout (29 s by default): a Lambda that runs
    # longer does work nobody receives, and the caller gets a bare 504.
    precondition {
      condition     = var.timeout * 1000 < var.api_timeout_ms
      error_message = "timeout (${var.timeout} s) must be below API Gateway's integration timeout (${var.api_timeout_ms} ms), so the function answers before API Gateway gives up."
    }
    # A serverless endpoint throttles above its MaxConcurrency: every running copy of this
    # function may have max_concurrency calls in flight.
    precondition {
      condition = var.endpoint_max_concurrency == null || (
        var.reserved_concurrency >= 0 &&
        var.reserved_concurrency * var.max_concurrency <= coalesce(var.endpoint_max_concurrency, 0)
      )
      error_message = "reserved_concurrency (${var.reserved_concurrency}) x max_concurrency (${var.max_concurrency}) calls could be in flight, above the endpoint's max concurrency (${coalesce(var.endpoint_max_concurrency, 0)}): lower one of them."
    }
    # One image of max_image_bytes arrives base64-encoded (4/3 larger) inside the request body.
    precondition {
      condition     = (var.endpoint_name == null) != (var.layer_zip_path == null)
      error_message = "Set endpoint_name (the function invokes an endpoint) or layer_zip_path (the model runs inside it), not both or neither."
    }
    precondition {
      condition     = ceil(var.max_image_bytes / 3) * 4 <= var.max_payload_bytes
      error_message = "max_image_bytes (${var.max_image_bytes}) base64-encoded does not fit in max_payload_bytes (${var.max_payload_bytes})."
    }
    # The handler sends one image per InvokeEndpoint call: the endpoint's request limit bounds it.
    precondition {
      condition     = var.max_image_bytes <= var.endpoint_max_request_bytes
      error_message = "max_image_bytes (${var.max_image_bytes}) is over the endpoint's request limit (${var.endpoint_max_request_bytes} bytes: SageMaker serverless 4 MB, real-time 6 MB)."
    }
  }
}
