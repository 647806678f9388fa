# Which alarms roll a model update back (modules/sagemaker_endpoint rollout.tf): the endpoint's
# and the API's errors and latency, the Lambda's errors, and the answer drift alarms when the
# model's validation figures are known. Cold starts are expected while a new fleet starts, so
# the cold-start alarm does not roll back. No monitoring, no automatic rollback.

locals {
  rollback_alarm_keys = [
    "endpoint-5xx", "endpoint-model-latency", "api-5xx-rate", "api-p99-latency", "lambda-errors",
    "drift-no-dog-rate", "drift-top1-probability",
  ]
  monitored = local.serving && var.monitoring_enabled
  rollback_alarm_names = local.monitored ? [
    for key in local.rollback_alarm_keys : module.monitoring[0].alarm_names[key]
    if contains(keys(module.monitoring[0].alarm_names), key)
  ] : []
}
