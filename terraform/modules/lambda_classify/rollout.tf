# How a new model replaces the old one when it runs inside this function (alias_name set):
# SAM's AutoPublishAlias + DeploymentPreference, written out. Every change publishes a version;
# API Gateway invokes the alias; CodeDeploy moves the alias from the version serving to the new
# one ("dogbreed deploy" starts that deployment after the apply, ops/deploy/lambda_rollout.py):
# - "canary": rollout_canary_percent of the requests go to the new version, then, after
#   rollout_wait_seconds (whole minutes, rounded up) with no rollback alarm, all of them;
# - "linear": rollout_linear_step_percent more every rollout_wait_seconds;
# - "all_at_once": every request moves at once.
# A rollback alarm firing during the deployment (alarm_configuration) stops it and CodeDeploy
# points the alias back at the old version (auto_rollback_configuration). A Lambda deployment ends
# once all traffic is on the new version: there is no bake after it (rollout_bake_seconds is the
# endpoint modes'), so an alarm after that is answered by hand (docs/operations.md).
# Terraform creates the alias on the first version and never moves it again (ignore_changes):
# CodeDeploy owns its version and weights, as it does under SAM.
# https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html#deployment-configuration-lambda
# https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-resources.html
# https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/automating-updates-to-serverless-apps.html

locals {
  alias          = var.alias_name != null
  rollout_policy = var.rollout_policy == "auto" ? "canary" : var.rollout_policy
  # CodeDeploy's Lambda intervals are whole minutes, at least one.
  rollout_minutes = max(1, ceil(var.rollout_wait_seconds / 60))
  # The predefined configurations (CodeDeployDefault.Lambda*) cover 10 % steps at these intervals;
  # any other percent or interval gets a custom configuration of the same shape.
  predefined = {
    canary      = var.rollout_canary_percent == 10 && contains([5, 10, 15, 30], local.rollout_minutes) ? "CodeDeployDefault.LambdaCanary10Percent${local.rollout_minutes}Minutes" : null
    linear      = var.rollout_linear_step_percent == 10 && contains([1, 2, 3, 10], local.rollout_minutes) ? "CodeDeployDefault.LambdaLinear10PercentEvery${local.rollout_minutes}Minute${local.rollout_minutes == 1 ? "" : "s"}" : null
    all_at_once = "CodeDeployDefault.LambdaAllAtOnce"
  }
  custom_config   = local.alias && local.predefined[local.rollout_policy] == null
  rollout_percent = local.rollout_policy == "canary" ? var.rollout_canary_percent : var.rollout_linear_step_percent
  # A custom configuration is named after its shape: a new shape is a new configuration, created
  # before the group moves to it (deployment configurations cannot be changed in place).
  deployment_config_name = local.custom_config ? "${var.function_name}-${local.rollout_policy}-${local.rollout_percent}pct-${local.rollout_minutes}min" : local.predefined[local.rollout_policy]
  rollback_alarms        = local.alias ? var.rollback_alarm_names : []
  alias_arn              = "${aws_lambda_function.this.arn}:${coalesce(var.alias_name, "none")}"
}

resource "aws_lambda_alias" "live" {
  count            = local.alias ? 1 : 0
  name             = var.alias_name
  description      = "What API Gateway invokes; CodeDeploy shifts it from version to version"
  function_name    = aws_lambda_function.this.function_name
  function_version = aws_lambda_function.this.version

  lifecycle {
    ignore_changes = [function_version, routing_config]
  }
}

resource "aws_codedeploy_app" "this" {
  count            = local.alias ? 1 : 0
  name             = var.function_name
  compute_platform = "Lambda"
  tags             = var.tags
}

resource "aws_codedeploy_deployment_config" "custom" {
  count                  = local.custom_config ? 1 : 0
  deployment_config_name = local.deployment_config_name
  compute_platform       = "Lambda"

  traffic_routing_config {
    type = local.rollout_policy == "canary" ? "TimeBasedCanary" : "TimeBasedLinear"

    dynamic "time_based_canary" {
      for_each = local.rollout_policy == "canary" ? [1] : []
      content {
        interval   = local.rollout_minutes
        percentage = var.rollout_canary_percent
      }
    }

    dynamic "time_based_linear" {
      for_each = local.rollout_policy == "linear" ? [1] : []
      content {
        interval   = local.rollout_minutes
        percentage = var.rollout_linear_step_percent
      }
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

# The service role: move this function's alias, read its versions' provisioned concurrency (which
# CodeDeploy checks before shifting), and read the rollback alarms. The AWS managed policy
# AWSCodeDeployRoleForLambda grants these on "*", plus sns:Publish (triggers: none here), S3 reads
# (an AppSpec in S3: dogbreed sends it inline) and invoking CodeDeployHook_* functions (no hooks).
data "aws_iam_policy_document" "codedeploy_assume" {
  count = local.alias ? 1 : 0

  statement {
    sid     = "CodeDeployAssumesRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["codedeploy.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "codedeploy" {
  count              = local.alias ? 1 : 0
  name               = "${var.function_name}-deploy"
  description        = "CodeDeploy shifting the ${var.function_name} Lambda's ${var.alias_name} alias between versions"
  assume_role_policy = data.aws_iam_policy_document.codedeploy_assume[0].json
  tags               = var.tags
}

data "aws_iam_policy_document" "codedeploy" {
  count = local.alias ? 1 : 0

  statement {
    sid     = "ShiftTheAlias"
    actions = ["lambda:GetAlias", "lambda:UpdateAlias"]
    # the alias, and the function it belongs to (Lambda authorizes alias calls on either form)
    resources = [aws_lambda_function.this.arn, local.alias_arn]
  }

  statement {
    sid       = "ReadVersionsProvisionedConcurrency"
    actions   = ["lambda:GetProvisionedConcurrencyConfig"]
    resources = ["${aws_lambda_function.this.arn}:*"] # this function's versions and alias
  }

  dynamic "statement" {
    for_each = length(local.rollback_alarms) > 0 ? [1] : []
    content {
      sid       = "ReadTheRollbackAlarms"
      actions   = ["cloudwatch:DescribeAlarms"]
      resources = ["*"] # CodeDeploy lists the alarms by name; as in the managed policy
    }
  }
}

resource "aws_iam_role_policy" "codedeploy" {
  count  = local.alias ? 1 : 0
  name   = "${var.function_name}-deploy"
  role   = aws_iam_role.codedeploy[0].id
  policy = data.aws_iam_policy_document.codedeploy[0].json
}

resource "aws_codedeploy_deployment_group" "this" {
  count                  = local.alias ? 1 : 0
  app_name               = aws_codedeploy_app.this[0].name
  deployment_group_name  = var.alias_name
  service_role_arn       = aws_iam_role.codedeploy[0].arn
  deployment_config_name = local.custom_config ? aws_codedeploy_deployment_config.custom[0].deployment_config_name : local.deployment_config_name
  tags                   = var.tags

  deployment_style {
    deployment_option = "WITH_TRAFFIC_CONTROL"
    deployment_type   = "BLUE_GREEN"
  }

  dynamic "alarm_configuration" {
    for_each = length(local.rollback_alarms) > 0 ? [1] : []
    content {
      enabled = true
      alarms  = local.rollback_alarms
    }
  }

  auto_rollback_configuration {
    enabled = true
    events  = length(local.rollback_alarms) > 0 ? ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"] : ["DEPLOYMENT_FAILURE"]
  }

  # the role's policy is in place before CodeDeploy can use the role
  depends_on = [aws_iam_role_policy.codedeploy]
}
