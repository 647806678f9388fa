# Dog Breed ID on AWS: the training infrastructure (bucket + SageMaker role) and, once a model
# exists (model_data_url set), the serving stack: SageMaker endpoint <- Lambda <- API Gateway
# POST /classify; in endpoint_mode "lambda" (lambda_layer_zip_path set) the Lambda runs the
# model itself and no SageMaker resource is created. `dogbreed deploy` drives this configuration; `terraform apply` works as well.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  bucket_name = coalesce(var.bucket_name, lower("${var.project}-${data.aws_caller_identity.current.account_id}-${var.region}"))
  # lambda mode: the model runs inside the classify Lambda (function zip + layer), no endpoint
  model_in_lambda   = var.endpoint_mode == "lambda"
  serving           = local.model_in_lambda ? var.lambda_layer_zip_path != "" : var.model_data_url != ""
  sagemaker_serving = local.serving && !local.model_in_lambda
  names = {
    endpoint  = "${var.project}-classifier"
    lambda    = "${var.project}-classify"
    api       = "${var.project}-api"
    inference = "${var.project}-sagemaker-inference"
  }
  # The Lambda's fan-out and reserved concurrency come from the endpoint's concurrency: a
  # serverless endpoint throttles above MaxConcurrency, so reserved x fan-out stays within it and
  # one full request of max_images cannot throttle itself. Instance endpoints queue instead.
  # Lambda mode has no endpoint to protect: reserved = the stage's burst limit, so the function
  # never throttles what API Gateway admitted, and runs no more copies than it can admit.
  serverless_endpoint  = var.endpoint_mode == "serverless"
  lambda_fanout        = coalesce(var.lambda_max_concurrency, local.serverless_endpoint ? min(var.max_images, var.serverless_max_concurrency) : 8)
  lambda_reserved      = coalesce(var.lambda_reserved_concurrency, local.model_in_lambda ? var.throttle_burst_limit : (local.serverless_endpoint ? max(1, floor(var.serverless_max_concurrency / local.lambda_fanout)) : 10))
  layer_key            = local.model_in_lambda && var.lambda_layer_zip_path != "" ? "lambda-layers/${local.names.lambda}-runtime.zip" : null
  endpoint_concurrency = local.serverless_endpoint ? var.serverless_max_concurrency : null
}

module "storage" {
  source = "./modules/storage"

  bucket_name   = local.bucket_name
  force_destroy = var.force_destroy
  kms_key_arn   = var.kms_key_arn
  tags          = { Name = local.bucket_name }

  # Emulators: moto server mis-reads the lifecycle rule (getmoto/moto#9729) and the provider
  # then polls for about a minute, so var.s3_lifecycle_rules = false leaves the rule out.
  tls_only                               = var.s3_tls_only
  noncurrent_version_expiration_days     = var.s3_lifecycle_rules ? 90 : null
  abort_incomplete_multipart_upload_days = var.s3_lifecycle_rules ? 7 : null
}

# The serving image's repository (Dockerfile at the repository root). Created with the bucket, so
# an image can be pushed before the first deploy of a locally trained model.
module "ecr" {
  source = "./modules/ecr"

  name         = "${var.project}-serving"
  kms_key_arn  = var.kms_key_arn
  force_delete = var.force_destroy
  tags         = { Name = "${var.project}-serving" }
}

module "sagemaker_role" {
  source = "./modules/sagemaker_role"

  name              = "${var.project}-sagemaker-execution"
  bucket_arn        = module.storage.bucket_arn
  data_prefix       = var.data_prefix
  output_prefix     = var.output_prefix
  checkpoint_prefix = var.checkpoint_prefix
  kms_key_arn       = var.kms_key_arn
  tags              = { Name = "${var.project}-sagemaker-execution" }
}

module "inference_role" {
  source = "./modules/sagemaker_inference_role"
  count  = local.sagemaker_serving ? 1 : 0

  name           = local.names.inference
  endpoint_name  = local.names.endpoint
  model_data_url = var.model_data_url
  image_uri      = var.image_uri
  kms_key_arn    = var.kms_key_arn
  tags           = { Name = local.names.inference }
}

module "endpoint" {
  source = "./modules/sagemaker_endpoint"
  count  = local.sagemaker_serving ? 1 : 0

  name                       = local.names.endpoint
  image_uri                  = var.image_uri
  model_data_url             = var.model_data_url
  environment                = var.model_environment
  execution_role_arn         = module.inference_role[0].role_arn
  mode                       = var.endpoint_mode
  network_isolation          = var.endpoint_network_isolation
  serverless_memory_mb       = var.serverless_memory_mb
  serverless_max_concurrency = var.serverless_max_concurrency
  # 0 = none (the module's null)
  serverless_provisioned_concurrency = var.serverless_provisioned_concurrency > 0 ? var.serverless_provisioned_concurrency : null
  instance_type                      = var.endpoint_instance_type
  instance_count                     = var.endpoint_instance_count
  kms_key_arn                        = var.kms_key_arn

  # A new model: blue/green traffic shifting, rolled back by the monitoring alarms (rollout.tf)
  rollout_policy              = var.rollout_policy
  rollout_canary_percent      = var.rollout_canary_percent
  rollout_linear_step_percent = var.rollout_linear_step_percent
  rollout_wait_seconds        = var.rollout_wait_seconds
  rollout_bake_seconds        = var.rollout_bake_seconds
  rollout_max_seconds         = var.rollout_max_seconds
  rollback_alarm_names        = local.rollback_alarm_names
}

module "lambda" {
  source = "./modules/lambda_classify"
  count  = local.serving ? 1 : 0

  function_name            = local.names.lambda
  zip_path                 = var.lambda_zip_path
  endpoint_name            = local.sagemaker_serving ? module.endpoint[0].endpoint_name : null
  endpoint_arn             = local.sagemaker_serving ? module.endpoint[0].endpoint_arn : null
  layer_s3_bucket          = local.layer_key == null ? null : module.storage.bucket_name
  layer_s3_key             = local.layer_key
  layer_zip_path           = local.layer_key == null ? null : var.lambda_layer_zip_path
  architecture             = local.model_in_lambda ? "x86_64" : "arm64" # the layer's wheels are x86_64
  timeout                  = var.lambda_timeout
  memory_size              = local.model_in_lambda ? var.lambda_model_memory_mb : var.lambda_memory_size
  reserved_concurrency     = local.lambda_reserved
  max_concurrency          = local.lambda_fanout
  endpoint_max_concurrency = local.endpoint_concurrency
  api_timeout_ms           = var.api_integration_timeout_ms
  max_images               = var.max_images
  max_image_bytes          = var.max_image_bytes
  max_payload_bytes        = var.max_payload_bytes
  # SageMaker's InvokeEndpoint request limit: serverless 4 MB, real-time 6 MB (docs/aws-rules.md)
  endpoint_max_request_bytes = local.serverless_endpoint ? 4000000 : 6000000
  cors_allowed_origins       = var.cors_allowed_origins
  environment                = var.lambda_environment
  log_retention_days         = var.log_retention_days

  # lambda mode: the model is in the function, so a new model is a new version, shifted to by
  # CodeDeploy behind the "live" alias and rolled back by the same alarms as an endpoint
  # (modules/lambda_classify rollout.tf). Endpoint modes invoke the function as it is: their
  # model rolls out on the endpoint, and the Lambda in front of it holds no model.
  alias_name                  = local.model_in_lambda ? "live" : null
  rollout_policy              = var.rollout_policy
  rollout_canary_percent      = var.rollout_canary_percent
  rollout_linear_step_percent = var.rollout_linear_step_percent
  rollout_wait_seconds        = var.rollout_wait_seconds
  rollback_alarm_names        = local.model_in_lambda ? local.rollback_alarm_names : []
}

module "api" {
  source = "./modules/api_gateway"
  count  = local.serving ? 1 : 0

  name                        = local.names.api
  lambda_function_name        = module.lambda[0].function_name
  lambda_invoke_arn           = module.lambda[0].invoke_arn
  lambda_qualifier            = module.lambda[0].alias_name
  stage_name                  = var.stage_name
  api_key_required            = var.api_key_required
  throttle_rate_limit         = var.throttle_rate_limit
  throttle_burst_limit        = var.throttle_burst_limit
  integration_timeout_ms      = var.api_integration_timeout_ms
  manage_account_logging_role = var.manage_account_logging_role
  log_retention_days          = var.log_retention_days
  cors_allowed_origins        = var.cors_allowed_origins
  serve_page                  = var.serve_page
}

# --- running it in production: alarms + dashboard, scaling ---------------------------------

module "monitoring" {
  source = "./modules/monitoring"
  count  = local.serving && var.monitoring_enabled ? 1 : 0

  # Names, not the other modules' outputs: the endpoint's rollback configuration names these
  # alarms, so the alarms must not wait for the endpoint (rollout.tf).
  name                   = var.project
  region                 = var.region
  api_name               = local.names.api
  api_stage              = var.stage_name
  lambda_function_name   = local.names.lambda
  lambda_timeout_seconds = var.lambda_timeout
  endpoint_name          = local.sagemaker_serving ? local.names.endpoint : null
  endpoint_mode          = var.endpoint_mode
  create_sns_topic       = var.alarm_sns_topic
  alarm_email            = var.alarm_email
  sns_topic_arn          = var.alarm_topic_arn
  period_seconds         = var.alarm_period_seconds
  evaluation_periods     = var.alarm_evaluation_periods

  api_5xx_rate_threshold           = var.alarm_api_5xx_rate
  api_p99_latency_ms               = var.alarm_api_p99_latency_ms
  lambda_errors_threshold          = var.alarm_lambda_errors
  lambda_throttles_threshold       = var.alarm_lambda_throttles
  lambda_duration_timeout_fraction = var.alarm_lambda_duration_timeout_fraction
  endpoint_5xx_threshold           = var.alarm_endpoint_5xx
  endpoint_model_latency_ms        = var.alarm_endpoint_model_latency_ms
  endpoint_model_setup_time_ms     = var.alarm_endpoint_model_setup_time_ms

  drift_no_dog_expected = var.drift_no_dog_expected
  drift_no_dog_margin   = var.drift_no_dog_margin
  drift_top1_expected   = var.drift_top1_expected
  drift_top1_margin     = var.drift_top1_margin
  drift_min_images      = var.drift_min_images
  drift_period_seconds  = var.drift_period_seconds
}

module "autoscaling" {
  source = "./modules/endpoint_autoscaling"
  count  = local.serving && var.endpoint_mode == "instance" && var.autoscaling_enabled ? 1 : 0

  endpoint_name                   = module.endpoint[0].endpoint_name
  min_capacity                    = var.autoscaling_min_capacity
  max_capacity                    = var.autoscaling_max_capacity
  target_invocations_per_instance = var.autoscaling_target_invocations_per_instance
}
