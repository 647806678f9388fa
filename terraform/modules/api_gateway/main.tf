# REST API: POST /classify -> Lambda proxy integration, one stage with throttling, access logs,
# X-Ray tracing, binary media types (raw image bodies reach the Lambda base64-encoded) and an
# optional API key + usage plan. GET / (the try-it page) from the same Lambda, and, when
# cors_allowed_origins is set, an OPTIONS preflight for POST /classify (a mock integration).

locals {
  cors     = length(var.cors_allowed_origins) > 0
  cors_any = contains(var.cors_allowed_origins, "*")
  # The preflight's Access-Control-Allow-Origin: the request's Origin when it is listed (a mock
  # integration can only vary a header through a mapping template's responseOverride), else a 403.
  # https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-override-request-response-parameters.html
  preflight_template = <<-VTL
    #set($origin = $input.params().header.get("Origin"))
    #if("$!origin" == "")#set($origin = $input.params().header.get("origin"))#end
    #set($allowed = [${join(", ", [for o in var.cors_allowed_origins : "\"${o}\""])}])
    #if($allowed.contains("*"))
    #set($context.responseOverride.header.Access-Control-Allow-Origin = "*")
    #elseif("$!origin" != "" && $allowed.contains($origin))
    #set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)
    #else
    #set($context.responseOverride.status = 403)
    #end
  VTL
}

resource "aws_api_gateway_rest_api" "this" {
  name               = var.name
  description        = "Dog Breed ID: POST /classify with one image or a JSON batch"
  binary_media_types = var.binary_media_types

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_resource" "classify" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "classify"
}

resource "aws_api_gateway_method" "post" {
  rest_api_id      = aws_api_gateway_rest_api.this.id
  resource_id      = aws_api_gateway_resource.classify.id
  http_method      = "POST"
  authorization    = "NONE" # callers are identified by the API key (api_key_required)
  api_key_required = var.api_key_required
}

resource "aws_api_gateway_integration" "lambda" {
  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_resource.classify.id
  http_method             = aws_api_gateway_method.post.http_method
  integration_http_method = "POST"
  type                    = "AWS_PROXY"
  uri                     = var.lambda_invoke_arn
  timeout_milliseconds    = var.integration_timeout_ms
}

# GET /: the try-it page, answered by the Lambda (lambda_src/index.html in its zip). No API key on
# this method: the page holds none; the person types theirs into it.
resource "aws_api_gateway_method" "page" {
  #checkov:skip=CKV_AWS_59:GET / is the public static try-it page; POST /classify keeps its API key
  count            = var.serve_page ? 1 : 0
  rest_api_id      = aws_api_gateway_rest_api.this.id
  resource_id      = aws_api_gateway_rest_api.this.root_resource_id
  http_method      = "GET"
  authorization    = "NONE" # a static page, public by design
  api_key_required = false
}

resource "aws_api_gateway_integration" "page" {
  count                   = var.serve_page ? 1 : 0
  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_rest_api.this.root_resource_id
  http_method             = aws_api_gateway_method.page[0].http_method
  integration_http_method = "POST"
  type                    = "AWS_PROXY"
  uri                     = var.lambda_invoke_arn
}

# CORS preflight for POST /classify (browsers send it before a cross-origin POST with x-api-key
# or a JSON content type). Only with cors_allowed_origins set; none by default, CORS off.
resource "aws_api_gateway_method" "preflight" {
  count            = local.cors ? 1 : 0
  rest_api_id      = aws_api_gateway_rest_api.this.id
  resource_id      = aws_api_gateway_resource.classify.id
  http_method      = "OPTIONS"
  authorization    = "NONE" # browsers send preflights without credentials or the API key
  api_key_required = false
}

resource "aws_api_gateway_integration" "preflight" {
  count             = local.cors ? 1 : 0
  rest_api_id       = aws_api_gateway_rest_api.this.id
  resource_id       = aws_api_gateway_resource.classify.id
  http_method       = aws_api_gateway_method.preflight[0].http_method
  type              = "MOCK"
  request_templates = { "application/json" = jsonencode({ statusCode = 200 }) }
}

resource "aws_api_gateway_method_response" "preflight" {
  count       = local.cors ? 1 : 0
  rest_api_id = aws_api_gateway_rest_api.this.id
  resource_id = aws_api_gateway_resource.classify.id
  http_method = aws_api_gateway_method.preflight[0].http_method
  status_code = "200"
  response_parameters = {
    "method.response.header.Access-Control-Allow-Headers" = true
    "method.response.header.Access-Control-Allow-Methods" = true
    "method.response.header.Access-Control-Max-Age"       = true
    "method.response.header.Vary"                         = true
  }
}

resource "aws_api_gateway_integration_response" "preflight" {
  count       = local.cors ? 1 : 0
  rest_api_id = aws_api_gateway_rest_api.this.id
  resource_id = aws_api_gateway_resource.classify.id
  http_method = aws_api_gateway_method.preflight[0].http_method
  status_code = aws_api_gateway_method_response.preflight[0].status_code
  response_parameters = {
    "method.response.header.Access-Control-Allow-Headers" = "'content-type,x-api-key'"
    "method.response.header.Access-Control-Allow-Methods" = "'POST,OPTIONS'"
    "method.response.header.Access-Control-Max-Age"       = "'600'"
    "method.response.header.Vary"                         = "'Origin'"
  }
  response_templates = { "application/json" = local.preflight_template }
  depends_on         = [aws_api_gateway_integration.preflight]
}

# API Gateway's own errors (403 wrong API key, 429 throttled, 504) carry the CORS header too, so an
# allowed page can show them. A gateway response can only hold a fixed value or a request header:
# with several origins it echoes Origin (these bodies hold no data; the Lambda's answers use the list).
resource "aws_api_gateway_gateway_response" "cors" {
  for_each      = local.cors ? toset(["DEFAULT_4XX", "DEFAULT_5XX"]) : toset([])
  rest_api_id   = aws_api_gateway_rest_api.this.id
  response_type = each.key
  response_parameters = {
    "gatewayresponse.header.Access-Control-Allow-Origin" = (
      local.cors_any ? "'*'" : length(var.cors_allowed_origins) == 1 ? "'${var.cors_allowed_origins[0]}'" : "method.request.header.Origin"
    )
    "gatewayresponse.header.Vary" = "'Origin'"
  }
}

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id

  # A new deployment whenever the routes change (a stage serves a snapshot of the API).
  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_resource.classify.id,
      aws_api_gateway_method.post.id,
      aws_api_gateway_method.post.api_key_required,
      aws_api_gateway_integration.lambda.id,
      aws_api_gateway_integration.lambda.uri,
      aws_api_gateway_integration.lambda.timeout_milliseconds,
      var.binary_media_types,
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# API Gateway writes access logs through one account-wide role (a regional setting).
data "aws_iam_policy_document" "apigw_assume" {
  count = var.manage_account_logging_role ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cloudwatch" {
  count              = var.manage_account_logging_role ? 1 : 0
  name               = "${var.name}-apigw-cloudwatch"
  assume_role_policy = data.aws_iam_policy_document.apigw_assume[0].json
  tags               = var.tags
}

# What AWS's AmazonAPIGatewayPushToCloudWatchLogs managed policy grants, inline and scoped to
# log groups of this account and region.
data "aws_iam_policy_document" "cloudwatch" {
  count = var.manage_account_logging_role ? 1 : 0

  statement {
    sid = "PushLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogGroups",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
      "logs:GetLogEvents",
      "logs:FilterLogEvents",
    ]
    resources = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:*"]
  }
}

resource "aws_iam_role_policy" "cloudwatch" {
  count  = var.manage_account_logging_role ? 1 : 0
  name   = "${var.name}-apigw-cloudwatch"
  role   = aws_iam_role.cloudwatch[0].id
  policy = data.aws_iam_policy_document.cloudwatch[0].json
}

resource "aws_api_gateway_account" "this" {
  count               = var.manage_account_logging_role ? 1 : 0
  cloudwatch_role_arn = aws_iam_role.cloudwatch[0].arn
  # No reset_on_delete: moto never clears the setting, so the provider would wait forever. On
  # destroy the (regional, account-wide) setting keeps naming the deleted role until the next
  # apply, which API Gateway tolerates; set manage_account_logging_role = false to own it elsewhere.
  depends_on = [aws_iam_role_policy.cloudwatch]
}

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

resource "aws_api_gateway_stage" "this" {
  rest_api_id          = aws_api_gateway_rest_api.this.id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = var.stage_name
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId        = "$context.requestId"
      ip               = "$context.identity.sourceIp"
      requestTime      = "$context.requestTime"
      httpMethod       = "$context.httpMethod"
      resourcePath     = "$context.resourcePath"
      status           = "$context.status"
      responseLength   = "$context.responseLength"
      latencyMs        = "$context.responseLatency"
      integrationError = "$context.integrationErrorMessage"
      apiKeyId         = "$context.identity.apiKeyId"
    })
  }

  tags       = var.tags
  depends_on = [aws_api_gateway_account.this]
}

resource "aws_api_gateway_method_settings" "all" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    throttling_rate_limit  = var.throttle_rate_limit
    throttling_burst_limit = var.throttle_burst_limit
    metrics_enabled        = true
    logging_level          = var.execution_logging_level
    data_trace_enabled     = false # request bodies are images: never log them
  }
}

resource "aws_api_gateway_api_key" "this" {
  count   = var.api_key_required ? 1 : 0
  name    = "${var.name}-key"
  enabled = true
  tags    = var.tags
}

resource "aws_api_gateway_usage_plan" "this" {
  count = var.api_key_required ? 1 : 0
  name  = "${var.name}-plan"

  api_stages {
    api_id = aws_api_gateway_rest_api.this.id
    stage  = aws_api_gateway_stage.this.stage_name
  }

  throttle_settings {
    rate_limit  = var.throttle_rate_limit
    burst_limit = var.throttle_burst_limit
  }

  dynamic "quota_settings" {
    for_each = var.daily_quota == null ? [] : [var.daily_quota]
    content {
      limit  = quota_settings.value
      period = "DAY"
    }
  }

  tags = var.tags
}

resource "aws_api_gateway_usage_plan_key" "this" {
  count         = var.api_key_required ? 1 : 0
  key_id        = aws_api_gateway_api_key.this[0].id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.this[0].id
}

resource "aws_lambda_permission" "apigw" {
  statement_id  = "AllowApiGatewayInvoke"
  action        = "lambda:InvokeFunction"
  function_name = var.lambda_function_name
  qualifier     = var.lambda_qualifier # the alias the integration invokes
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/*/POST/classify"
}

resource "aws_lambda_permission" "page" {
  count         = var.serve_page ? 1 : 0
  statement_id  = "AllowApiGatewayInvokePage"
  action        = "lambda:InvokeFunction"
  function_name = var.lambda_function_name
  qualifier     = var.lambda_qualifier # the alias the integration invokes
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/*/GET/"
}
