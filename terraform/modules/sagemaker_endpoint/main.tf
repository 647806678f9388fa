# SageMaker model + endpoint configuration + endpoint serving the trained image classifier.
# A new model artifact or image gives a new model (content-hashed name) and a new endpoint
# configuration (name_prefix); both are created before the old ones are destroyed, and the
# endpoint switches configuration in place, so a redeploy has no downtime.

locals {
  serverless = var.mode == "serverless"
  model_hash = substr(sha1(jsonencode([var.image_uri, var.model_data_url, var.environment])), 0, 8)
}

resource "aws_sagemaker_model" "this" {
  name               = "${var.name}-${local.model_hash}"
  execution_role_arn = var.execution_role_arn
  # The built-in algorithm needs no network: SageMaker itself fetches the artifact from S3.
  enable_network_isolation = var.network_isolation

  primary_container {
    image          = var.image_uri
    model_data_url = var.model_data_url
    environment    = var.environment
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
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

  tags = var.tags

  lifecycle {
    create_before_destroy = true

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
}
