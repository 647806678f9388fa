# What the model answers, from the classify Lambda's embedded-metric-format lines
# (lambda_src/metrics.py; namespace var.answers_namespace, dimension FunctionName): two drift
# alarms against the deployed model's own validation figures, and the answers on the dashboard.
# On a serverless endpoint SageMaker has no data capture, so these are the only drift signal.
#
# - drift-no-dog-rate: NoDog / Images over a period (only with at least drift_min_images images)
#   above the share of validation dogs the model refused (metrics.json) + drift_no_dog_margin.
# - drift-top1-probability: the mean top-1 probability of the images answered as dogs (with at
#   least drift_min_images of them) below the validation mean confidence - drift_top1_margin.
# An alarm exists only when its expected value is known (dogbreed deploy reads metrics.json).

locals {
  answers_line = ["FunctionName", var.lambda_function_name]
  drift_alarms = merge(
    var.drift_no_dog_expected == null ? {} : {
      "drift-no-dog-rate" = {
        description = "More than ${format("%.1f", min(1, var.drift_no_dog_expected + var.drift_no_dog_margin) * 100)}% of the images were answered \"no dog recognised\" (validation: ${format("%.1f", var.drift_no_dog_expected * 100)}%)."
        expression  = "IF(images >= ${var.drift_min_images}, nodog / images, 0)"
        metrics     = { images = ["Images", "Sum"], nodog = ["NoDog", "Sum"] }
        threshold   = min(1, var.drift_no_dog_expected + var.drift_no_dog_margin)
        comparison  = "GreaterThanThreshold"
      }
    },
    var.drift_top1_expected == null ? {} : {
      "drift-top1-probability" = {
        description = "The mean top-1 probability of dog answers fell below ${format("%.3f", max(0, var.drift_top1_expected - var.drift_top1_margin))} (validation mean: ${format("%.3f", var.drift_top1_expected)})."
        expression  = "IF(answered >= ${var.drift_min_images}, top1, 1)"
        metrics     = { top1 = ["Top1Probability", "Average"], answered = ["Top1Probability", "SampleCount"] }
        threshold   = max(0, var.drift_top1_expected - var.drift_top1_margin)
        comparison  = "LessThanThreshold"
      }
    },
  )
  answers_graphs = [
    { title = "Answers per verdict (sum)", stat = "Sum", threshold = null, lines = [
      for metric in ["Images", "Dog", "NoDog", "Uncertain", "BreedNotRecognised", "Failed"] :
      concat([var.answers_namespace, metric], local.answers_line)
    ] },
    { title     = "Answers: mean top-1 probability of dog answers", stat = "Average",
      threshold = var.drift_top1_expected == null ? null : max(0, var.drift_top1_expected - var.drift_top1_margin),
    lines = [concat([var.answers_namespace, "Top1Probability"], local.answers_line)] },
    { title = "Answers: latency p99 per hop (ms)", stat = "p99", threshold = null, lines = [
      concat([var.answers_namespace, "HandlerLatency"], local.answers_line),
      concat([var.answers_namespace, "EndpointLatency"], local.answers_line),
    ] },
  ]
}

resource "aws_cloudwatch_metric_alarm" "drift" {
  for_each = local.drift_alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison
  evaluation_periods  = var.drift_evaluation_periods
  # Too few images to judge (or none) is not drift: the expression answers a non-breaching value.
  treat_missing_data = "notBreaching"
  alarm_actions      = local.alarm_actions
  ok_actions         = local.alarm_actions
  tags               = var.tags

  metric_query {
    id          = "drift"
    expression  = each.value.expression
    label       = each.key
    return_data = true
  }

  dynamic "metric_query" {
    for_each = each.value.metrics
    content {
      id = metric_query.key
      metric {
        namespace   = var.answers_namespace
        metric_name = metric_query.value[0]
        stat        = metric_query.value[1]
        period      = var.drift_period_seconds
        dimensions  = { FunctionName = var.lambda_function_name }
      }
    }
  }
}
