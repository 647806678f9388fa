# --- project -------------------------------------------------------------------------------

variable "project" {
  description = "Project name (dogbreed setting project.name); prefixes every resource name."
  type        = string
  default     = "dogbreed"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,20}$", var.project))
    error_message = "project must be 1-21 lowercase letters, digits or hyphens."
  }
}

variable "region" {
  description = "AWS region (dogbreed setting aws.region)."
  type        = string
  default     = "us-east-1"
}

variable "tags" {
  description = "Tags applied to every resource (provider default_tags)."
  type        = map(string)
  default     = { project = "dogbreed-id" }
}

# --- training infrastructure ----------------------------------------------------------------

variable "bucket_name" {
  description = "Bucket name; null = <project>-<account id>-<region>, dogbreed's default when aws.bucket is empty."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the bucket while it still holds data."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key for the bucket and the endpoint's volumes; null = AWS managed (SSE-S3)."
  type        = string
  default     = null
}

variable "s3_lifecycle_rules" {
  description = "Expire noncurrent object versions (90 days) and abort stale multipart uploads (7 days); false for moto server, which mis-reads the rule."
  type        = bool
  default     = true
}

variable "s3_tls_only" {
  description = "Deny non-TLS requests to the bucket; false only for moto server reached over plain HTTP, which evaluates the policy and would refuse every object call (e.g. deploy's model upload)."
  type        = bool
  default     = true
}

variable "data_prefix" {
  description = "Key prefix of the training data (dogbreed setting aws.data_prefix); the training role reads only this."
  type        = string
  default     = "stanford-dogs"
}

variable "output_prefix" {
  description = "Key prefix of training output (aws.output_prefix); the training role writes here."
  type        = string
  default     = "training-output"
}

variable "checkpoint_prefix" {
  description = "Key prefix of spot checkpoints (aws.checkpoint_prefix)."
  type        = string
  default     = "checkpoints"
}

# --- serving: the model ---------------------------------------------------------------------

variable "model_data_url" {
  description = "s3:// URL of the trained model.tar.gz; empty = training infrastructure only (no endpoint, Lambda or API)."
  type        = string
  default     = ""

  validation {
    condition     = var.model_data_url == "" || can(regex("^s3://", var.model_data_url))
    error_message = "model_data_url must be empty or an s3:// URL."
  }
}

variable "image_uri" {
  description = "Inference image URI: the serving image of a locally trained model by digest (<ecr_repository_url>@sha256:...), or the built-in image-classification image of a SageMaker training job."
  type        = string
  default     = ""

  validation {
    condition     = var.image_uri == "" || can(regex("^[^@]+@sha256:[0-9a-f]{64}$", var.image_uri)) || can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/image-classification:[0-9]+$", var.image_uri))
    error_message = "image_uri must name the serving image by digest (<repository>@sha256:<64 hex digits>): a tag can be moved under a running endpoint. Only AWS's built-in image-classification image is named by its documented tag."
  }
}

variable "model_environment" {
  description = "Environment of the inference container: {} for the built-in algorithm; SAGEMAKER_* and DOGBREED_SERVE__* variables for the serving image (ops/endpoint/container_entrypoint.py)."
  type        = map(string)
  default     = {}
}

variable "lambda_environment" {
  description = "Extra environment of the classify Lambda, e.g. DOG_MIN_TOP_PROBABILITY (set by dogbreed deploy from the model)."
  type        = map(string)
  default     = {}
}

variable "endpoint_mode" {
  description = "\"serverless\" or \"instance\" (a SageMaker endpoint), or \"lambda\" (the model runs inside the classify Lambda: no SageMaker resources); dogbreed setting deploy.endpoint_mode."
  type        = string
  default     = "serverless"

  validation {
    condition     = contains(["serverless", "instance", "lambda"], var.endpoint_mode)
    error_message = "endpoint_mode must be \"serverless\", \"instance\" or \"lambda\"."
  }
}

variable "lambda_layer_zip_path" {
  description = "endpoint_mode = \"lambda\": the layer zip (numpy, Pillow, ONNX Runtime for the Lambda's Python, built by `dogbreed deploy`); uploaded to the bucket, since it is over the 50 MB of a direct upload. Serving starts once it is set, with lambda_zip_path holding the model."
  type        = string
  default     = ""

  validation {
    condition     = var.lambda_layer_zip_path == "" || can(regex("\\.zip$", var.lambda_layer_zip_path))
    error_message = "lambda_layer_zip_path must name a .zip file."
  }
}

variable "lambda_model_memory_mb" {
  description = "Lambda memory in MB when the model runs inside it (endpoint_mode = \"lambda\"): 1769 MB is one full vCPU, where a CPU-bound invocation costs the same GB-seconds as at less memory and answers fastest before a second core (docs/serving.md, bench/lambda_mode.py)."
  type        = number
  default     = 1769

  validation {
    condition     = var.lambda_model_memory_mb >= 512 && var.lambda_model_memory_mb <= 10240
    error_message = "lambda_model_memory_mb must be 512-10240 (Lambda's range; the model needs more than 128)."
  }
}

variable "serverless_memory_mb" {
  description = "Serverless endpoint memory (1024-6144 MB, steps of 1024; validated in modules/sagemaker_endpoint)."
  type        = number
  default     = 3072
}

variable "serverless_max_concurrency" {
  description = "Serverless endpoint maximum concurrency (1-200; validated in modules/sagemaker_endpoint); the Lambda's fan-out and reserved concurrency follow from it."
  type        = number
  default     = 5
}

variable "endpoint_network_isolation" {
  description = "Network isolation of the model container; null = on in instance mode, off in serverless mode (Serverless Inference excludes it)."
  type        = bool
  default     = null
}

variable "endpoint_instance_type" {
  description = "Instance type in instance mode."
  type        = string
  default     = "ml.m5.large"
}

variable "endpoint_instance_count" {
  description = "Instance count in instance mode."
  type        = number
  default     = 1
}

# --- serving: Lambda + API ------------------------------------------------------------------

variable "lambda_zip_path" {
  description = "Path of the Lambda zip built by `dogbreed deploy`; required when model_data_url is set."
  type        = string
  default     = ""

  validation {
    condition     = var.lambda_zip_path == "" || can(regex("\\.zip$", var.lambda_zip_path))
    error_message = "lambda_zip_path must be empty or name a .zip file."
  }
}

variable "lambda_timeout" {
  description = "Lambda timeout in seconds: below api_integration_timeout_ms, so the function answers before API Gateway gives up."
  type        = number
  default     = 28

  validation {
    condition     = var.lambda_timeout >= 1 && var.lambda_timeout < 29
    error_message = "lambda_timeout must be 1-28 s: API Gateway's REST integration timeout is 29 s, and a Lambda still running then is answered with a bare 504."
  }
}

variable "api_integration_timeout_ms" {
  description = "How long API Gateway waits for the Lambda (50-29000 ms); the handler answers before it."
  type        = number
  default     = 29000

  validation {
    condition     = var.api_integration_timeout_ms >= 50 && var.api_integration_timeout_ms <= 29000
    error_message = "api_integration_timeout_ms must be 50-29000 (API Gateway's REST integration timeout)."
  }
}

variable "lambda_max_concurrency" {
  description = "Parallel endpoint calls per request (handler MAX_CONCURRENCY); null = min(max_images, serverless_max_concurrency) in serverless mode, 8 in instance mode."
  type        = number
  default     = null
}

variable "lambda_memory_size" {
  description = "Lambda memory in MB."
  type        = number
  default     = 256
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrency of the Lambda; null = serverless_max_concurrency / fan-out in serverless mode (so the endpoint is never asked for more), 10 in instance mode, throttle_burst_limit in lambda mode (docs/serving.md)."
  type        = number
  default     = null
}

variable "max_images" {
  description = "Images per POST /classify request."
  type        = number
  default     = 16
}

variable "max_image_bytes" {
  description = "Bytes per image (handler MAX_IMAGE_BYTES): at most the endpoint's request limit (SageMaker serverless 4 MB, real-time 6 MB); base64-encoded it must fit in max_payload_bytes."
  type        = number
  default     = 4000000
}

variable "max_payload_bytes" {
  description = "Largest request body (handler MAX_PAYLOAD_BYTES): at most Lambda's 6 MB synchronous payload (API Gateway allows 10 MB)."
  type        = number
  default     = 6000000
}

variable "stage_name" {
  description = "API Gateway stage name."
  type        = string
  default     = "prod"
}

variable "api_key_required" {
  description = "Require an x-api-key header (API key + usage plan); dogbreed setting deploy.api_key_required."
  type        = bool
  default     = true
}

variable "throttle_rate_limit" {
  description = "Stage steady-state requests per second."
  type        = number
  default     = 10
}

variable "throttle_burst_limit" {
  description = "Stage burst limit."
  type        = number
  default     = 20
}

variable "manage_account_logging_role" {
  description = "Create API Gateway's account-wide CloudWatch logging role (false if the account has one)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the Lambda and access log groups, in days."
  type        = number
  default     = 365
}

# --- emulators (moto server) ----------------------------------------------------------------

variable "endpoints" {
  description = "Service endpoint overrides, e.g. every service at a moto server URL; {} = real AWS."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.endpoints) : contains(["apigateway", "applicationautoscaling", "cloudwatch", "cloudwatchlogs", "codedeploy", "ecr", "iam", "lambda", "s3", "sagemaker", "sns", "sts"], k)])
    error_message = "endpoints keys must be among apigateway, applicationautoscaling, cloudwatch, cloudwatchlogs, codedeploy, ecr, iam, lambda, s3, sagemaker, sns, sts."
  }
}

variable "skip_credentials_validation" {
  description = "Skip the provider's STS credential check (emulators)."
  type        = bool
  default     = false
}

variable "skip_requesting_account_id" {
  description = "Skip looking up the account id (emulators)."
  type        = bool
  default     = false
}

variable "skip_metadata_api_check" {
  description = "Skip the EC2 metadata API (emulators, CI)."
  type        = bool
  default     = false
}

variable "s3_use_path_style" {
  description = "Path-style S3 addressing (emulators)."
  type        = bool
  default     = false
}

variable "cors_allowed_origins" {
  description = "Origins (scheme://host[:port], or \"*\") whose pages may call POST /classify: API Gateway answers their OPTIONS preflight and the Lambda adds Access-Control-Allow-Origin. Default none: CORS off (the page at the API's root is same-origin and needs none). Checked in modules/api_gateway."
  type        = list(string)
  default     = []
}

variable "serve_page" {
  description = "Serve the try-it page at GET / of the API (from the Lambda's zip)."
  type        = bool
  default     = true
}

# --- serving: alarms, dashboard, scaling (modules/monitoring, modules/endpoint_autoscaling) --

variable "monitoring_enabled" {
  description = "Create the CloudWatch alarms and the dashboard of the serving path."
  type        = bool
  default     = true
}

variable "alarm_sns_topic" {
  description = "Create an SNS topic the alarms notify (also created when alarm_email is set)."
  type        = bool
  default     = false
}

variable "alarm_email" {
  description = "E-mail address the alarms notify through the SNS topic (confirm AWS's mail first); \"\" = none."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be empty or an e-mail address."
  }
}

variable "alarm_topic_arn" {
  description = "An existing SNS topic the alarms notify as well; null = none."
  type        = string
  default     = null
}

variable "alarm_period_seconds" {
  description = "Evaluation period of every alarm, in seconds (a multiple of 60)."
  type        = number
  default     = 300
}

variable "alarm_evaluation_periods" {
  description = "Consecutive breaching periods before an alarm fires."
  type        = number
  default     = 1
}

variable "alarm_api_5xx_rate" {
  description = "API Gateway 5XX rate (0-1) above which the api-5xx-rate alarm fires."
  type        = number
  default     = 0.05
}

variable "alarm_api_p99_latency_ms" {
  description = "API Gateway p99 latency (ms) above which the api-p99-latency alarm fires."
  type        = number
  default     = 5000
}

variable "alarm_lambda_errors" {
  description = "Lambda errors per period at which the lambda-errors alarm fires."
  type        = number
  default     = 1
}

variable "alarm_lambda_throttles" {
  description = "Lambda throttles per period at which the lambda-throttles alarm fires."
  type        = number
  default     = 1
}

variable "alarm_lambda_duration_timeout_fraction" {
  description = "Share of the Lambda timeout above which the lambda-duration-near-timeout alarm fires."
  type        = number
  default     = 0.8
}

variable "alarm_endpoint_5xx" {
  description = "Endpoint Invocation5XXErrors per period at which the endpoint-5xx alarm fires."
  type        = number
  default     = 1
}

variable "alarm_endpoint_model_latency_ms" {
  description = "Average endpoint ModelLatency (ms) above which the endpoint-model-latency alarm fires."
  type        = number
  default     = 2000
}

variable "alarm_endpoint_model_setup_time_ms" {
  description = "Serverless cold start (ModelSetupTime, ms) above which the endpoint-cold-start alarm fires."
  type        = number
  default     = 20000
}

variable "autoscaling_enabled" {
  description = "Instance mode: scale the endpoint's instance count on invocations per instance."
  type        = bool
  default     = true
}

variable "autoscaling_min_capacity" {
  description = "Instance mode: fewest instances (at least 1)."
  type        = number
  default     = 1
}

variable "autoscaling_max_capacity" {
  description = "Instance mode: most instances (at least autoscaling_min_capacity)."
  type        = number
  default     = 4
}

variable "autoscaling_target_invocations_per_instance" {
  description = "Instance mode: invocations per instance per minute that target tracking aims for."
  type        = number
  default     = 100
}

variable "serverless_provisioned_concurrency" {
  description = "Serverless mode: warm instances kept ready (no cold starts, billed while idle); 0 = none, else 1..serverless_max_concurrency."
  type        = number
  default     = 0

  validation {
    condition     = var.serverless_provisioned_concurrency >= 0 && var.serverless_provisioned_concurrency <= 200
    error_message = "serverless_provisioned_concurrency must be between 0 and 200."
  }
}

# --- serving: rolling out a new model (modules/sagemaker_endpoint rollout.tf; in lambda mode
# modules/lambda_classify rollout.tf, CodeDeploy) ----------------------------------------------

variable "rollout_policy" {
  description = "How a new model takes the traffic: \"canary\", \"linear\", \"all_at_once\", or \"auto\" (canary on instances and in lambda mode, all at once on serverless); rolled back when an alarm fires (dogbreed setting deploy.rollout_policy)."
  type        = string
  default     = "auto"
}

variable "rollout_canary_percent" {
  description = "Canary share of the new fleet's capacity (1-50 %)."
  type        = number
  default     = 10
}

variable "rollout_linear_step_percent" {
  description = "Linear step, share of the new fleet's capacity (10-50 %)."
  type        = number
  default     = 20
}

variable "rollout_wait_seconds" {
  description = "Wait between traffic steps, watching the alarms (0-3600 s)."
  type        = number
  default     = 300
}

variable "rollout_bake_seconds" {
  description = "Final bake before the old fleet is terminated, watching the alarms (0-3600 s)."
  type        = number
  default     = 600
}

variable "rollout_max_seconds" {
  description = "Longest a rollout may take (600-14400 s); more than the waits and the bake."
  type        = number
  default     = 3600
}

# --- serving: answer drift alarms (modules/monitoring drift.tf) -----------------------------

variable "drift_no_dog_expected" {
  description = "Expected \"no dog recognised\" share (the validation dogs refused, from the model's metrics.json; set by dogbreed deploy); null = no alarm."
  type        = number
  default     = null
}

variable "drift_no_dog_margin" {
  description = "Margin above drift_no_dog_expected at which the drift-no-dog-rate alarm fires."
  type        = number
  default     = 0.15
}

variable "drift_top1_expected" {
  description = "The model's validation mean top-1 probability (metrics.json; set by dogbreed deploy); null = no alarm."
  type        = number
  default     = null
}

variable "drift_top1_margin" {
  description = "Margin below drift_top1_expected at which the drift-top1-probability alarm fires."
  type        = number
  default     = 0.15
}

variable "drift_min_images" {
  description = "Images a drift alarm's period needs before it is judged."
  type        = number
  default     = 20
}

variable "drift_period_seconds" {
  description = "Period of the drift alarms in seconds."
  type        = number
  default     = 3600
}
