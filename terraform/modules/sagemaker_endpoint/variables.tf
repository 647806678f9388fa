variable "name" {
  description = "Endpoint name (the Lambda's ENDPOINT_NAME); also prefixes the model and endpoint configuration names."
  type        = string

  validation {
    # EndpointName/EndpointConfigName/ModelName allow 63 characters of ^[a-zA-Z0-9](-*[a-zA-Z0-9])*;
    # the endpoint configuration's name_prefix gets a 26-character suffix, the model 9.
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,35}$", var.name))
    error_message = "name must be 1-36 letters, digits or single hyphens: the endpoint configuration's name adds 27 characters and SageMaker allows 63."
  }
}

variable "image_uri" {
  description = "Inference image URI: the serving image by digest (<repository>@sha256:...), or for the built-in image-classification algorithm AWS's image by its documented tag."
  type        = string

  validation {
    condition     = can(regex("^[^@]+@sha256:[0-9a-f]{64}$", var.image_uri)) || can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/image-classification:[0-9]+$", var.image_uri))
    error_message = "image_uri must name the image by digest (<repository>@sha256:<64 hex digits>), so a moved tag cannot change a running endpoint; only AWS's built-in image-classification image is named by its tag."
  }
}

variable "model_data_url" {
  description = "S3 URL of the model artifact (model.tar.gz): a training job's output or an uploaded container package."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]+/.+", var.model_data_url))
    error_message = "model_data_url must be an s3://bucket/key URL."
  }
}

variable "execution_role_arn" {
  description = "IAM role SageMaker assumes to pull the image and read the artifact."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/", var.execution_role_arn))
    error_message = "execution_role_arn must be an IAM role ARN."
  }
}

variable "environment" {
  description = "Environment variables of the inference container ({} for the built-in algorithm; SAGEMAKER_PROGRAM etc. for a framework container)."
  type        = map(string)
  default     = {}
}

variable "mode" {
  description = "\"serverless\" (pay per request, cold starts) or \"instance\" (always-on instances)."
  type        = string
  default     = "serverless"

  validation {
    condition     = contains(["serverless", "instance"], var.mode)
    error_message = "mode must be \"serverless\" or \"instance\"."
  }
}

variable "serverless_memory_mb" {
  description = "Serverless memory size (MB): 1024-6144 in steps of 1024 (API_ProductionVariantServerlessConfig)."
  type        = number
  default     = 3072

  validation {
    condition     = contains([1024, 2048, 3072, 4096, 5120, 6144], var.serverless_memory_mb)
    error_message = "serverless_memory_mb must be one of 1024, 2048, 3072, 4096, 5120, 6144."
  }
}

variable "serverless_max_concurrency" {
  description = "Serverless maximum concurrent invocations (1-200, API_ProductionVariantServerlessConfig); the Lambda's fan-out is derived from it."
  type        = number
  default     = 5

  validation {
    condition     = var.serverless_max_concurrency >= 1 && var.serverless_max_concurrency <= 200
    error_message = "serverless_max_concurrency must be between 1 and 200."
  }
}

variable "serverless_provisioned_concurrency" {
  description = "Serverless provisioned concurrency: warm capacity without cold starts, billed while idle (1-200, at most serverless_max_concurrency); null = none."
  type        = number
  default     = null

  validation {
    condition     = var.serverless_provisioned_concurrency == null || (coalesce(var.serverless_provisioned_concurrency, 0) >= 1 && coalesce(var.serverless_provisioned_concurrency, 0) <= 200)
    error_message = "serverless_provisioned_concurrency must be null or between 1 and 200."
  }
}

variable "instance_type" {
  description = "Instance type in \"instance\" mode."
  type        = string
  default     = "ml.m5.large"

  validation {
    condition     = can(regex("^ml\\.", var.instance_type))
    error_message = "instance_type must be a SageMaker instance type (ml.*)."
  }
}

variable "instance_count" {
  description = "Initial instance count in \"instance\" mode."
  type        = number
  default     = 1

  validation {
    condition     = var.instance_count >= 1
    error_message = "instance_count must be at least 1."
  }
}

variable "kms_key_arn" {
  description = "KMS key encrypting the instances' storage volume (\"instance\" mode); null = AWS managed."
  type        = string
  default     = null
}

variable "network_isolation" {
  description = "Run the inference container without network access; null = true in instance mode, false in serverless mode (which excludes it)."
  type        = bool
  default     = null
}

variable "vpc_config" {
  description = "Subnets and security groups of the inference containers (instance mode only); null = none."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null
}

variable "data_capture_s3_uri" {
  description = "s3:// prefix capturing requests and responses (instance mode only); null = no data capture."
  type        = string
  default     = null

  validation {
    condition     = var.data_capture_s3_uri == null || can(regex("^s3://", var.data_capture_s3_uri))
    error_message = "data_capture_s3_uri must be null or an s3:// URL."
  }
}

variable "tags" {
  description = "Tags for the model, endpoint configuration and endpoint."
  type        = map(string)
  default     = {}
}

# --- rollout of a new model (rollout.tf) ----------------------------------------------------

variable "rollout_policy" {
  description = "How a new model takes traffic: \"canary\", \"linear\", \"all_at_once\", or \"auto\" (canary on instances, all at once on serverless, which has no instances to shift in steps)."
  type        = string
  default     = "auto"

  validation {
    condition     = contains(["auto", "canary", "linear", "all_at_once"], var.rollout_policy)
    error_message = "rollout_policy must be \"auto\", \"canary\", \"linear\" or \"all_at_once\"."
  }
}

variable "rollout_canary_percent" {
  description = "Canary: share of the new fleet's capacity that takes traffic first (1-50 %, API_TrafficRoutingConfig CanarySize)."
  type        = number
  default     = 10

  validation {
    condition     = var.rollout_canary_percent >= 1 && var.rollout_canary_percent <= 50
    error_message = "rollout_canary_percent must be 1-50: SageMaker's canary is at most 50 % of the fleet."
  }
}

variable "rollout_linear_step_percent" {
  description = "Linear: share of the new fleet's capacity added per step (10-50 %, API_TrafficRoutingConfig LinearStepSize)."
  type        = number
  default     = 20

  validation {
    condition     = var.rollout_linear_step_percent >= 10 && var.rollout_linear_step_percent <= 50
    error_message = "rollout_linear_step_percent must be 10-50: SageMaker's linear steps are 10-50 % of the fleet."
  }
}

variable "rollout_wait_seconds" {
  description = "Wait between traffic steps, watching the rollback alarms (0-3600 s, WaitIntervalInSeconds)."
  type        = number
  default     = 300

  validation {
    condition     = var.rollout_wait_seconds >= 0 && var.rollout_wait_seconds <= 3600
    error_message = "rollout_wait_seconds must be 0-3600 (WaitIntervalInSeconds)."
  }
}

variable "rollout_bake_seconds" {
  description = "Final bake: how long the old fleet is kept, watching the rollback alarms, once all traffic is on the new one (0-3600 s, TerminationWaitInSeconds)."
  type        = number
  default     = 600

  validation {
    condition     = var.rollout_bake_seconds >= 0 && var.rollout_bake_seconds <= 3600
    error_message = "rollout_bake_seconds must be 0-3600 (TerminationWaitInSeconds)."
  }
}

variable "rollout_max_seconds" {
  description = "Longest a rollout may take before SageMaker stops it (600-14400 s: the API allows 28800, the AWS provider 14400; MaximumExecutionTimeoutInSeconds); must exceed the waits and the bake."
  type        = number
  default     = 3600

  validation {
    condition     = var.rollout_max_seconds >= 600 && var.rollout_max_seconds <= 14400
    error_message = "rollout_max_seconds must be 600-14400 (MaximumExecutionTimeoutInSeconds; the AWS provider's limit)."
  }
}

variable "rollback_alarm_names" {
  description = "CloudWatch alarms that roll a rollout back when they fire (at most 10, AutoRollbackConfig); [] = no automatic rollback."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.rollback_alarm_names) <= 10
    error_message = "rollback_alarm_names holds at most 10 alarms (SageMaker AutoRollbackConfig)."
  }
}
