# CloudWatch alarms on every hop of POST /classify (API Gateway -> Lambda -> SageMaker endpoint;
# no endpoint hop when the model runs inside the Lambda), an optional SNS topic (+ e-mail) they
# notify, and one dashboard of the whole path.
#
# Metric names, dimensions and units, from the AWS documentation:
# - API Gateway REST APIs, namespace AWS/ApiGateway, dimensions ApiName + Stage: 5XXError (the
#   Average statistic is the 5XX rate: errors / Count), Latency and IntegrationLatency in ms.
#   https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
# - Lambda, namespace AWS/Lambda, dimension FunctionName: Errors and Throttles (Sum), Duration
#   in ms, ConcurrentExecutions.
#   https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html
# - SageMaker endpoints, namespace AWS/SageMaker, dimensions EndpointName + VariantName:
#   Invocations, Invocation4XXErrors / Invocation5XXErrors (1 per failed request), ModelLatency
#   and OverheadLatency in MICROseconds; serverless endpoints add ModelSetupTime (microseconds, the
#   time to launch compute for a cold start).
#   https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html
#   https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-monitoring.html
#   Instance endpoints publish CPUUtilization in /aws/sagemaker/Endpoints (same dimensions).

locals {
  create_topic   = var.create_sns_topic || var.alarm_email != ""
  alarm_actions  = compact([local.create_topic ? aws_sns_topic.alarms[0].arn : "", var.sns_topic_arn == null ? "" : var.sns_topic_arn])
  api_dims       = { ApiName = var.api_name, Stage = var.api_stage }
  lambda_dims    = { FunctionName = var.lambda_function_name }
  endpoint_dims  = { EndpointName = var.endpoint_name, VariantName = var.variant_name }
  duration_limit = var.lambda_timeout_seconds * 1000 * var.lambda_duration_timeout_fraction
  has_endpoint   = var.endpoint_name != null # null: the model runs inside the Lambda
  # Each alarm: what it watches and when it fires. README.md says what to do when one does.
  alarms = merge(
    {
      "api-5xx-rate" = {
        description = "More than ${var.api_5xx_rate_threshold * 100}% of POST /classify requests answered 5XX."
        namespace   = "AWS/ApiGateway", metric = "5XXError", dimensions = local.api_dims
        statistic   = "Average", extended = null, threshold = var.api_5xx_rate_threshold
        comparison  = "GreaterThanThreshold"
      }
      "api-p99-latency" = {
        description = "p99 latency of the API above ${var.api_p99_latency_ms} ms."
        namespace   = "AWS/ApiGateway", metric = "Latency", dimensions = local.api_dims
        statistic   = null, extended = "p99", threshold = var.api_p99_latency_ms
        comparison  = "GreaterThanThreshold"
      }
      "lambda-errors" = {
        description = "The classify Lambda failed (unhandled error or timeout) at least ${var.lambda_errors_threshold} time(s)."
        namespace   = "AWS/Lambda", metric = "Errors", dimensions = local.lambda_dims
        statistic   = "Sum", extended = null, threshold = var.lambda_errors_threshold
        comparison  = "GreaterThanOrEqualToThreshold"
      }
      "lambda-throttles" = {
        description = "The classify Lambda was throttled at least ${var.lambda_throttles_threshold} time(s): its reserved concurrency is used up."
        namespace   = "AWS/Lambda", metric = "Throttles", dimensions = local.lambda_dims
        statistic   = "Sum", extended = null, threshold = var.lambda_throttles_threshold
        comparison  = "GreaterThanOrEqualToThreshold"
      }
      "lambda-duration-near-timeout" = {
        description = "The slowest classify invocation took over ${var.lambda_duration_timeout_fraction * 100}% of the ${var.lambda_timeout_seconds} s timeout."
        namespace   = "AWS/Lambda", metric = "Duration", dimensions = local.lambda_dims
        statistic   = "Maximum", extended = null, threshold = local.duration_limit
        comparison  = "GreaterThanThreshold"
      }
    },
    local.has_endpoint ? {
      "endpoint-5xx" = {
        description = "The SageMaker endpoint answered 5XX (Invocation5XXErrors) at least ${var.endpoint_5xx_threshold} time(s)."
        namespace   = "AWS/SageMaker", metric = "Invocation5XXErrors", dimensions = local.endpoint_dims
        statistic   = "Sum", extended = null, threshold = var.endpoint_5xx_threshold
        comparison  = "GreaterThanOrEqualToThreshold"
      }
      "endpoint-model-latency" = {
        description = "Average ModelLatency above ${var.endpoint_model_latency_ms} ms."
        namespace   = "AWS/SageMaker", metric = "ModelLatency", dimensions = local.endpoint_dims
        statistic   = "Average", extended = null, threshold = var.endpoint_model_latency_ms * 1000 # microseconds
        comparison  = "GreaterThanThreshold"
      }
    } : {},
    local.has_endpoint && var.endpoint_mode == "serverless" ? {
      "endpoint-cold-start" = {
        description = "A serverless cold start (ModelSetupTime) took over ${var.endpoint_model_setup_time_ms} ms."
        namespace   = "AWS/SageMaker", metric = "ModelSetupTime", dimensions = local.endpoint_dims
        statistic   = "Maximum", extended = null, threshold = var.endpoint_model_setup_time_ms * 1000 # microseconds
        comparison  = "GreaterThanThreshold"
      }
    } : {}
  )
}

resource "aws_sns_topic" "alarms" {
  count             = local.create_topic ? 1 : 0
  name              = "${var.name}-alarms"
  kms_master_key_id = var.sns_kms_key_id
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email != "" ? 1 : 0
  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison
  period              = var.period_seconds
  evaluation_periods  = var.evaluation_periods
  # No traffic is not an outage: periods without data points leave the alarm as it is (OK).
  treat_missing_data = "notBreaching"
  alarm_actions      = local.alarm_actions
  ok_actions         = local.alarm_actions
  tags               = var.tags
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "${var.name}-serving"
  dashboard_body = jsonencode({ widgets = local.widgets })
}

locals {
  api_line      = ["ApiName", var.api_name, "Stage", var.api_stage]
  lambda_line   = ["FunctionName", var.lambda_function_name]
  endpoint_line = ["EndpointName", var.endpoint_name, "VariantName", var.variant_name]
  # A metric line of a widget is [namespace, metric, dimension, value, ...].
  widget_defaults = { region = var.region, period = 60, view = "timeSeries", stacked = false }
  graphs          = concat(local.path_graphs, [for g in local.endpoint_graphs : g if local.has_endpoint])
  path_graphs = [
    { title = "API: requests and errors", stat = "Sum", threshold = null, lines = [
      concat(["AWS/ApiGateway", "Count"], local.api_line),
      concat(["AWS/ApiGateway", "4XXError"], local.api_line),
      concat(["AWS/ApiGateway", "5XXError"], local.api_line),
    ] },
    { title = "API: latency p99 (ms)", stat = "p99", threshold = var.api_p99_latency_ms, lines = [
      concat(["AWS/ApiGateway", "Latency"], local.api_line),
      concat(["AWS/ApiGateway", "IntegrationLatency"], local.api_line),
    ] },
    { title = "Lambda: invocations, errors, throttles", stat = "Sum", threshold = null, lines = [
      concat(["AWS/Lambda", "Invocations"], local.lambda_line),
      concat(["AWS/Lambda", "Errors"], local.lambda_line),
      concat(["AWS/Lambda", "Throttles"], local.lambda_line),
    ] },
    { title = "Lambda: duration max (ms) vs timeout", stat = "Maximum", threshold = local.duration_limit, lines = [
      concat(["AWS/Lambda", "Duration"], local.lambda_line),
    ] },
  ]
  endpoint_graphs = [
    { title = "Endpoint: invocations and errors", stat = "Sum", threshold = null, lines = [
      concat(["AWS/SageMaker", "Invocations"], local.endpoint_line),
      concat(["AWS/SageMaker", "Invocation4XXErrors"], local.endpoint_line),
      concat(["AWS/SageMaker", "Invocation5XXErrors"], local.endpoint_line),
    ] },
    { title = "Endpoint: model and overhead latency (microseconds)", stat = "Average", threshold = var.endpoint_model_latency_ms * 1000, lines = [
      concat(["AWS/SageMaker", "ModelLatency"], local.endpoint_line),
      concat(["AWS/SageMaker", "OverheadLatency"], local.endpoint_line),
    ] },
    var.endpoint_mode == "serverless" ? {
      title     = "Endpoint: cold starts, ModelSetupTime max (microseconds)", stat = "Maximum"
      threshold = var.endpoint_model_setup_time_ms * 1000
      lines     = [concat(["AWS/SageMaker", "ModelSetupTime"], local.endpoint_line)]
      } : {
      title = "Endpoint: CPU utilization (%, summed over cores)", stat = "Average", threshold = null
      lines = [concat(["/aws/sagemaker/Endpoints", "CPUUtilization"], local.endpoint_line)]
    },
  ]
  widgets = concat(
    [{
      type = "alarm", x = 0, y = 0, width = 24, height = 3
      properties = {
        title  = "Alarms (README: what each means, what to do)"
        alarms = [for alarm in merge(aws_cloudwatch_metric_alarm.this, aws_cloudwatch_metric_alarm.drift) : alarm.arn]
      }
    }],
    [for i, g in concat(local.graphs, local.answers_graphs) : { # answers: drift.tf
      type = "metric", x = (i % 2) * 12, y = 3 + floor(i / 2) * 6, width = 12, height = 6
      properties = merge(local.widget_defaults, {
        title       = g.title
        stat        = g.stat
        metrics     = g.lines
        annotations = g.threshold == null ? {} : { horizontal = [{ label = "alarm threshold", value = g.threshold }] }
      })
    }],
  )
}
