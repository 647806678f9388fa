# SageMaker model + endpoint configuration + endpoint serving the trained image classifier.
# Any change that forces a new model (image, artifact, environment, role, network isolation, VPC)
# gives a new content-hashed model name, and a new endpoint configuration (name_prefix); both are
# created before the old ones are destroyed, and the endpoint switches configuration in place, so
# a redeploy has no downtime. An image URI + a model data URL + an environment is all a model
# needs, whichever backend trained it.

locals {
  serverless = var.mode == "serverless"
  # Serverless Inference excludes network isolation and VPC configuration
  # (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html#serverless-endpoints-how-it-works-exclusions);
  # instance mode isolates by default (the built-in algorithm needs no network).
  network_isolation = coalesce(var.network_isolation, !local.serverless)
  # Every argument of aws_sagemaker_model that forces replacement is in the hash, so a
  # replacement never asks SageMaker for a name that still exists (create_before_destroy).
  model_hash = substr(sha1(jsonencode([
    var.image_uri, var.model_data_url, var.environment, var.execution_role_arn,
    local.network_isolation, var.vpc_config,
  ])), 0, 8)
}

resource "aws_sagemaker_model" "this" {
  name                     = "${var.name}-${local.model_hash}"
  execution_role_arn       = var.execution_role_arn
  enable_network_isolation = local.network_isolation

  primary_container {
    image          = var.image_uri
    model_data_url = var.model_data_url
    environment    = var.environment
  }

  dynamic "vpc_config" {
    for_each = var.vpc_config == null ? [] : [var.vpc_config]
    content {
      subnets            = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = !(local.serverless && local.network_isolation)
      error_message = "Serverless endpoints do not support network isolation (SageMaker Serverless Inference feature exclusions): set network_isolation = false or mode = \"instance\"."
    }
    precondition {
      condition     = !(local.serverless && var.vpc_config != null)
      error_message = "Serverless endpoints do not support a VPC configuration (SageMaker Serverless Inference feature exclusions): drop vpc_config or use mode = \"instance\"."
    }
  }
}

resource "aws_sagemaker_endpoint_configuration" "this" {
  name_prefix = "${var.name}-"
  kms_key_arn = local.serverless ? null : var.kms_key_arn # serverless variants have no storage volume

  production_variants {
    variant_name           = "AllTraffic"
    model_name             = aws_sagemaker_model.this.name
    initial_instance_count = local.serverless ? null : var.instance_count
    instance_type          = local.serverless ? null : var.instance_type

    dynamic "serverless_config" {
      for_each = local.serverless ? [1] : []
      content {
        memory_size_in_mb = var.serverless_memory_mb
        max_concurrency   = var.serverless_max_concurrency
        # Warm capacity with no cold starts, billed while idle (ProductionVariantServerlessConfig:
        # 1-200 and at most MaxConcurrency; see the precondition below).
        provisioned_concurrency = var.serverless_provisioned_concurrency
      }
    }
  }

  dynamic "data_capture_config" {
    for_each = var.data_capture_s3_uri == null ? [] : [var.data_capture_s3_uri]
    content {
      initial_sampling_percentage = 100
      destination_s3_uri          = data_capture_config.value
      kms_key_id                  = var.kms_key_arn

      capture_options {
        capture_mode = "Input"
      }
      capture_options {
        capture_mode = "Output"
      }
    }
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = !(local.serverless && var.data_capture_s3_uri != null)
      error_message = "Serverless endpoints do not support data capture (SageMaker Serverless Inference feature exclusions): drop data_capture_s3_uri or use mode = \"instance\"."
    }

    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html
    precondition {
      condition     = var.serverless_provisioned_concurrency == null || coalesce(var.serverless_provisioned_concurrency, 0) <= var.serverless_max_concurrency
      error_message = "serverless_provisioned_concurrency must be at most serverless_max_concurrency."
    }
  }
}

resource "aws_sagemaker_endpoint" "this" {
  name                 = var.name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.this.name
  tags                 = var.tags

  # A new model reaches the endpoint by a blue/green update (rollout.tf: canary, linear or all at
  # once), rolled back when a rollback alarm fires during a wait or the final bake.
  deployment_config {
    blue_green_update_policy {
      termination_wait_in_seconds          = var.rollout_bake_seconds
      maximum_execution_timeout_in_seconds = var.rollout_max_seconds

      traffic_routing_configuration {
        type                     = local.traffic_routing
        wait_interval_in_seconds = var.rollout_wait_seconds

        dynamic "canary_size" {
          for_each = local.traffic_routing == "CANARY" ? [var.rollout_canary_percent] : []
          content {
            type  = "CAPACITY_PERCENT"
            value = canary_size.value
          }
        }
        dynamic "linear_step_size" {
          for_each = local.traffic_routing == "LINEAR" ? [var.rollout_linear_step_percent] : []
          content {
            type  = "CAPACITY_PERCENT"
            value = linear_step_size.value
          }
        }
      }
    }

    dynamic "auto_rollback_configuration" {
      for_each = length(var.rollback_alarm_names) > 0 ? [1] : []
      content {
        dynamic "alarms" {
          for_each = toset(var.rollback_alarm_names)
          content {
            alarm_name = alarms.value
          }
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = !(local.serverless && contains(["canary", "linear"], local.rollout_policy))
      error_message = "Serverless endpoints shift traffic all at once: canary and linear steps are shares of the variant's instances, which a serverless variant does not have (API_TrafficRoutingConfig; docs/aws-rules.md). Set rollout_policy = \"all_at_once\" (or \"auto\"), or mode = \"instance\"."
    }
    precondition {
      condition     = var.rollout_max_seconds > local.rollout_waits
      error_message = "rollout_max_seconds must exceed the rollout's waits (bake + every step's wait): SageMaker's MaximumExecutionTimeoutInSeconds must be larger than TerminationWaitInSeconds and WaitIntervalInSeconds together (API_BlueGreenUpdatePolicy)."
    }
  }
}
