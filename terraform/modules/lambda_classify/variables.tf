variable "function_name" {
  description = "Name of the Lambda function (also names its role and log group)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,57}$", var.function_name))
    error_message = "function_name must be 1-57 letters, digits, hyphens or underscores (the role name appends \"-lambda\")."
  }
}

variable "zip_path" {
  description = "Path of the deployment zip built by `dogbreed deploy` (ops/api/lambda_package.py)."
  type        = string

  validation {
    condition     = can(regex("\\.zip$", var.zip_path))
    error_message = "zip_path must name a .zip file."
  }
}

variable "endpoint_name" {
  description = "SageMaker endpoint the function invokes (its ENDPOINT_NAME); null when the model runs inside the function (layer_zip_path set)."
  type        = string
  default     = null
}

variable "endpoint_arn" {
  description = "ARN of that endpoint: the only resource of sagemaker:InvokeEndpoint in the role's policy; null with no endpoint."
  type        = string
  default     = null

  validation {
    condition     = var.endpoint_arn == null || can(regex("^arn:aws[a-zA-Z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:endpoint/", var.endpoint_arn))
    error_message = "endpoint_arn must be a SageMaker endpoint ARN."
  }
}

variable "layer_zip_path" {
  description = "The model inside the function: the layer zip (numpy, Pillow, ONNX Runtime) built by `dogbreed deploy` (ops/api/lambda_layer.py); the function zip then holds the model and the handler runs it (CLASSIFY_BACKEND=model). null = the function invokes endpoint_name."
  type        = string
  default     = null
}

variable "layer_s3_bucket" {
  description = "Bucket the layer zip is uploaded to (a layer over 50 MB cannot be sent directly)."
  type        = string
  default     = null
}

variable "layer_s3_key" {
  description = "Key of the layer zip in layer_s3_bucket."
  type        = string
  default     = null
}

variable "runtime" {
  description = "Python runtime (the handler needs only boto3 and the standard library)."
  type        = string
  default     = "python3.12"

  validation {
    condition     = can(regex("^python3\\.(1[0-9])$", var.runtime))
    error_message = "runtime must be python3.10 or later."
  }
}

variable "architecture" {
  description = "Instruction set: arm64 (cheaper) or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "timeout" {
  description = "Function timeout in seconds; must be below api_timeout_ms (API Gateway gives up after 29 s)."
  type        = number
  default     = 28

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900 seconds."
  }
}

variable "memory_size" {
  description = "Memory in MB (also scales the CPU share)."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions: caps the load sent to the endpoint (-1 = unreserved)."
  type        = number
  default     = 10

  validation {
    condition     = var.reserved_concurrency == -1 || var.reserved_concurrency >= 0
    error_message = "reserved_concurrency must be -1 (unreserved) or >= 0."
  }
}

variable "max_images" {
  description = "Images per request (handler MAX_IMAGES)."
  type        = number
  default     = 16

  validation {
    condition     = var.max_images >= 1 && var.max_images <= 64
    error_message = "max_images must be between 1 and 64."
  }
}

variable "max_image_bytes" {
  description = "Bytes per decoded image (handler MAX_IMAGE_BYTES)."
  type        = number
  default     = 4000000

  validation {
    condition     = var.max_image_bytes >= 1024 && var.max_image_bytes <= 6000000
    error_message = "max_image_bytes must be between 1 KiB and 6 MB."
  }
}

variable "max_concurrency" {
  description = "Parallel invoke_endpoint calls per request (handler MAX_CONCURRENCY); with reserved_concurrency at most endpoint_max_concurrency."
  type        = number
  default     = 8

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency <= 64
    error_message = "max_concurrency must be between 1 and 64."
  }
}

variable "endpoint_max_concurrency" {
  description = "Concurrent invocations the endpoint accepts before throttling (a serverless endpoint's MaxConcurrency); null = not limited (instance mode)."
  type        = number
  default     = null
}

variable "api_timeout_ms" {
  description = "API Gateway's integration timeout: the handler answers before it (ANSWER_WITHIN_MS)."
  type        = number
  default     = 29000

  validation {
    condition     = var.api_timeout_ms >= 50 && var.api_timeout_ms <= 29000
    error_message = "api_timeout_ms must be 50-29000 (API Gateway's integration timeout range)."
  }
}

variable "endpoint_max_request_bytes" {
  description = "The endpoint's InvokeEndpoint request limit: 4000000 for SageMaker serverless, 6000000 for real-time (instance) endpoints."
  type        = number
  default     = 6000000
}

variable "max_payload_bytes" {
  description = "Largest request body the handler reads (MAX_PAYLOAD_BYTES): Lambda's synchronous invocation payload is at most 6 MB."
  type        = number
  default     = 6000000

  validation {
    condition     = var.max_payload_bytes >= 1024 && var.max_payload_bytes <= 6291456
    error_message = "max_payload_bytes must be between 1 KiB and 6 MB (6291456 bytes, Lambda's synchronous payload limit)."
  }
}

variable "classes_s3_uri" {
  description = "s3://bucket/key of classes.json, read instead of the copy in the zip; null = the zip's."
  type        = string
  default     = null
}

variable "classes_s3_object_arn" {
  description = "ARN of that object (granted s3:GetObject); null when classes_s3_uri is null."
  type        = string
  default     = null
}

variable "environment" {
  description = "Extra environment variables (e.g. TOP_K_DEFAULT, INVOKE_RETRIES)."
  type        = map(string)
  default     = {}
}

variable "log_level" {
  description = "Handler log level."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 365, ..., 3653)."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the environment variables and the log group; null = AWS managed keys."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the function, role and log group."
  type        = map(string)
  default     = {}
}

variable "cors_allowed_origins" {
  description = "Origins the handler answers with Access-Control-Allow-Origin (CORS_ALLOWED_ORIGINS); empty = CORS off."
  type        = list(string)
  default     = []
}

# --- rollout of a new version (rollout.tf) -------------------------------------------------

variable "alias_name" {
  description = "Publish a version per change and put this alias in front of it (invoke_arn then names the alias), its traffic shifted by CodeDeploy from version to version; null = callers invoke $LATEST, no versions, no CodeDeploy."
  type        = string
  default     = null

  validation {
    condition     = var.alias_name == null || can(regex("^[a-zA-Z][a-zA-Z0-9_-]{0,99}$", coalesce(var.alias_name, "x")))
    error_message = "alias_name must start with a letter and hold letters, digits, hyphens or underscores (not a version number)."
  }
}

variable "rollout_policy" {
  description = "How a new version takes the alias's traffic: \"canary\", \"linear\", \"all_at_once\", or \"auto\" (canary)."
  type        = string
  default     = "auto"

  validation {
    condition     = contains(["auto", "canary", "linear", "all_at_once"], var.rollout_policy)
    error_message = "rollout_policy must be \"auto\", \"canary\", \"linear\" or \"all_at_once\"."
  }
}

variable "rollout_canary_percent" {
  description = "Canary share of the requests the new version takes first (1-99 %); 10 with a 5, 10, 15 or 30 minute wait is a predefined CodeDeploy configuration, anything else a custom one."
  type        = number
  default     = 10

  validation {
    condition     = var.rollout_canary_percent >= 1 && var.rollout_canary_percent <= 99
    error_message = "rollout_canary_percent must be 1-99 (CodeDeploy TimeBasedCanary percentage)."
  }
}

variable "rollout_linear_step_percent" {
  description = "Share of the requests added per linear step (1-99 %); 10 every 1, 2, 3 or 10 minutes is a predefined CodeDeploy configuration, anything else a custom one."
  type        = number
  default     = 20

  validation {
    condition     = var.rollout_linear_step_percent >= 1 && var.rollout_linear_step_percent <= 99
    error_message = "rollout_linear_step_percent must be 1-99 (CodeDeploy TimeBasedLinear percentage)."
  }
}

variable "rollout_wait_seconds" {
  description = "Wait between traffic steps, watching the rollback alarms (0-3600 s; CodeDeploy counts whole minutes, rounded up, at least 1)."
  type        = number
  default     = 300

  validation {
    condition     = var.rollout_wait_seconds >= 0 && var.rollout_wait_seconds <= 3600
    error_message = "rollout_wait_seconds must be 0-3600."
  }
}

variable "rollback_alarm_names" {
  description = "CloudWatch alarms that stop a deployment and move the alias back when they fire (at most 10, a deployment group's limit); [] = rolled back only when the deployment fails."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.rollback_alarm_names) <= 10
    error_message = "rollback_alarm_names holds at most 10 alarms (CodeDeploy alarm configuration)."
  }
}
