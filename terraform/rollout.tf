# Which alarms roll a model update back (modules/sagemaker_endpoint rollout.tf): the endpoint's
# and the API's errors and latency, and the Lambda's errors. Cold starts are expected while a new
# fleet starts, so the cold-start alarm does not roll back. The set must not change from one model
# to the next: the AWS provider replaces the endpoint when auto_rollback_configuration changes
# (ForceNew), so the drift alarms, which exist only for models with validation figures (and
# judge hourly periods, longer than a bake), stay out. No monitoring, no automatic rollback.

locals {
  rollback_alarm_keys = [
    "endpoint-5xx", "endpoint-model-latency", "api-5xx-rate", "api-p99-latency", "lambda-errors",
  ]
  monitored = local.serving && var.monitoring_enabled
  rollback_alarm_names = local.monitored ? [
    for key in local.rollback_alarm_keys : module.monitoring[0].alarm_names[key]
    if contains(keys(module.monitoring[0].alarm_names), key)
  ] : []
}
