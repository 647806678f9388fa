# Example: the complete stack (bucket, SageMaker role, endpoint, Lambda, API) through the root
# configuration, with every knob written out. Usually `dogbreed deploy` does this for you.
#
#   cd terraform/examples/complete
#   terraform init
#   terraform apply -var model_data_url=s3://.../model.tar.gz -var lambda_zip_path=$PWD/lambda.zip
#
# Build lambda.zip with:
#   python -c "from ops.api.lambda_package import build_lambda_zip as b; b('lambda.zip', 'data/prepared/classes.json')"

module "dogbreed" {
  source = "../.."

  project = "dogbreed"
  region  = "us-east-1"

  # The trained model: the training job's artifact and the built-in algorithm's image.
  model_data_url = var.model_data_url
  image_uri      = var.image_uri

  # Serverless endpoint: pay per request; switch to "instance" for steady traffic.
  endpoint_mode              = "serverless"
  serverless_memory_mb       = 3072
  serverless_max_concurrency = 5
  # Warm serverless capacity (no cold starts, billed while idle); 0 = none.
  serverless_provisioned_concurrency = 0
  # Instance mode only: scale 1-4 instances on invocations per instance per minute.
  autoscaling_enabled                         = true
  autoscaling_min_capacity                    = 1
  autoscaling_max_capacity                    = 4
  autoscaling_target_invocations_per_instance = 100

  # The Lambda: the deterministic zip; it answers before API Gateway's 29 s. Its fan-out and
  # reserved concurrency follow serverless_max_concurrency (5 and 1 here), so it never sends the
  # endpoint more than it accepts (set lambda_max_concurrency / lambda_reserved_concurrency to
  # choose them; a precondition checks reserved x fan-out <= 5).
  lambda_zip_path            = var.lambda_zip_path
  lambda_timeout             = 28
  api_integration_timeout_ms = 29000
  max_images                 = 16

  # The API: key + usage plan, stage throttling, logs kept a year.
  api_key_required     = true
  throttle_rate_limit  = 10
  throttle_burst_limit = 20
  log_retention_days   = 365

  # Alarms on every hop + one dashboard; what each alarm means: the top-level README.
  monitoring_enabled                     = true
  alarm_email                            = var.alarm_email
  alarm_period_seconds                   = 300
  alarm_evaluation_periods               = 1
  alarm_api_5xx_rate                     = 0.05
  alarm_api_p99_latency_ms               = 5000
  alarm_lambda_errors                    = 1
  alarm_lambda_throttles                 = 1
  alarm_lambda_duration_timeout_fraction = 0.8
  alarm_endpoint_5xx                     = 1
  alarm_endpoint_model_latency_ms        = 2000
  alarm_endpoint_model_setup_time_ms     = 20000

  # Keep the data when destroying; set true only for throwaway stacks.
  force_destroy = false
}
