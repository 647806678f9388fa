# How a new model replaces the old one (SageMaker deployment guardrails, blue/green):
# - "canary": rollout_canary_percent of the new fleet's capacity takes traffic first, then, after
#   rollout_wait_seconds with no rollback alarm, the rest;
# - "linear": rollout_linear_step_percent more per step, rollout_wait_seconds between steps;
# - "all_at_once": every request moves at once (the only routing a serverless variant has: its
#   capacity is no instance count to take a share of);
# then rollout_bake_seconds of watching before the old fleet is terminated. Any alarm in
# rollback_alarm_names firing during a wait or the bake sends all traffic back to the old fleet.
# https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green.html
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrafficRoutingConfig.html
# https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html

locals {
  rollout_policy  = var.rollout_policy == "auto" ? (local.serverless ? "all_at_once" : "canary") : var.rollout_policy
  traffic_routing = upper(local.rollout_policy)
  # Steps after the first, each followed by a wait: canary 1, linear ceil(100 / step) - 1.
  rollout_steps = local.rollout_policy == "canary" ? 1 : (local.rollout_policy == "linear" ? ceil(100 / var.rollout_linear_step_percent) - 1 : 0)
  rollout_waits = var.rollout_bake_seconds + var.rollout_wait_seconds * max(local.rollout_steps, 1)
}
