# --- what is watched -----------------------------------------------------------------------

variable "name" {
  description = "Prefix of every alarm name, of the SNS topic and of the dashboard (e.g. the project name)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,64}$", var.name))
    error_message = "name must be 1-64 letters, digits, hyphens or underscores (dashboard names allow no other characters)."
  }
}

variable "region" {
  description = "Region the dashboard's widgets read metrics from."
  type        = string
}

variable "api_name" {
  description = "Name of the REST API (the ApiName dimension of AWS/ApiGateway metrics)."
  type        = string
}

variable "api_stage" {
  description = "Stage of the REST API (the Stage dimension of AWS/ApiGateway metrics)."
  type        = string
}

variable "lambda_function_name" {
  description = "Name of the classify Lambda (the FunctionName dimension of AWS/Lambda metrics)."
  type        = string
}

variable "lambda_timeout_seconds" {
  description = "Timeout of the Lambda in seconds; the duration alarm fires at lambda_duration_timeout_fraction of it."
  type        = number

  validation {
    condition     = var.lambda_timeout_seconds >= 1 && var.lambda_timeout_seconds <= 900
    error_message = "lambda_timeout_seconds must be between 1 and 900 (Lambda's limit)."
  }
}

variable "endpoint_name" {
  description = "Name of the SageMaker endpoint (the EndpointName dimension of AWS/SageMaker metrics); null when the model runs inside the Lambda (no endpoint alarms or graphs)."
  type        = string
  default     = null
}

variable "variant_name" {
  description = "Production variant of the endpoint (the VariantName dimension)."
  type        = string
  default     = "AllTraffic"
}

variable "endpoint_mode" {
  description = "\"serverless\" (adds the ModelSetupTime cold-start alarm), \"instance\" (adds CPU to the dashboard) or \"lambda\" (no endpoint: the API and Lambda hops only)."
  type        = string
  default     = "serverless"

  validation {
    condition     = contains(["serverless", "instance", "lambda"], var.endpoint_mode)
    error_message = "endpoint_mode must be \"serverless\", \"instance\" or \"lambda\"."
  }
}

# --- where alarms go -----------------------------------------------------------------------

variable "create_sns_topic" {
  description = "Create an SNS topic that every alarm notifies (also created when alarm_email is set)."
  type        = bool
  default     = false
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (AWS mails a confirmation link first); \"\" = none."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be empty or an e-mail address."
  }
}

variable "sns_topic_arn" {
  description = "An existing SNS topic to notify as well (e.g. a chat integration); null = none."
  type        = string
  default     = null

  validation {
    condition     = var.sns_topic_arn == null || can(regex("^arn:aws[a-zA-Z-]*:sns:", var.sns_topic_arn))
    error_message = "sns_topic_arn must be null or an SNS topic ARN."
  }
}

variable "sns_kms_key_id" {
  description = "KMS key encrypting the created topic; the default is the AWS managed key for SNS."
  type        = string
  default     = "alias/aws/sns"
}

# --- how alarms evaluate -------------------------------------------------------------------

variable "period_seconds" {
  description = "Length of one evaluation period in seconds (API Gateway, Lambda and SageMaker publish every 60 s)."
  type        = number
  default     = 300

  validation {
    condition     = var.period_seconds >= 60 && var.period_seconds % 60 == 0
    error_message = "period_seconds must be a multiple of 60 (these services publish one-minute metrics)."
  }
}

variable "evaluation_periods" {
  description = "Consecutive breaching periods before an alarm fires."
  type        = number
  default     = 1

  validation {
    condition     = var.evaluation_periods >= 1 && var.evaluation_periods <= 24
    error_message = "evaluation_periods must be between 1 and 24."
  }
}

# --- thresholds ----------------------------------------------------------------------------

variable "api_5xx_rate_threshold" {
  description = "API Gateway 5XX rate (share of requests, 0-1) above which the API alarm fires."
  type        = number
  default     = 0.05

  validation {
    condition     = var.api_5xx_rate_threshold > 0 && var.api_5xx_rate_threshold <= 1
    error_message = "api_5xx_rate_threshold is a share of requests: above 0 and at most 1."
  }
}

variable "api_p99_latency_ms" {
  description = "API Gateway p99 latency (ms) above which the latency alarm fires; API Gateway gives up at 29,000 ms."
  type        = number
  default     = 5000

  validation {
    condition     = var.api_p99_latency_ms > 0 && var.api_p99_latency_ms <= 29000
    error_message = "api_p99_latency_ms must be above 0 and at most 29000 (API Gateway's integration timeout)."
  }
}

variable "lambda_errors_threshold" {
  description = "Lambda errors (unhandled exceptions, timeouts) per period at or above which the alarm fires."
  type        = number
  default     = 1

  validation {
    condition     = var.lambda_errors_threshold >= 1
    error_message = "lambda_errors_threshold must be at least 1."
  }
}

variable "lambda_throttles_threshold" {
  description = "Throttled Lambda invocations per period at or above which the alarm fires (reserved concurrency reached)."
  type        = number
  default     = 1

  validation {
    condition     = var.lambda_throttles_threshold >= 1
    error_message = "lambda_throttles_threshold must be at least 1."
  }
}

variable "lambda_duration_timeout_fraction" {
  description = "The duration alarm fires when the slowest invocation of a period takes more than this share of the timeout."
  type        = number
  default     = 0.8

  validation {
    condition     = var.lambda_duration_timeout_fraction > 0 && var.lambda_duration_timeout_fraction < 1
    error_message = "lambda_duration_timeout_fraction must be between 0 and 1 (exclusive)."
  }
}

variable "endpoint_5xx_threshold" {
  description = "Endpoint Invocation5XXErrors per period at or above which the alarm fires."
  type        = number
  default     = 1

  validation {
    condition     = var.endpoint_5xx_threshold >= 1
    error_message = "endpoint_5xx_threshold must be at least 1."
  }
}

variable "endpoint_model_latency_ms" {
  description = "Average ModelLatency (ms) above which the alarm fires; the metric is in microseconds and converted here."
  type        = number
  default     = 2000

  validation {
    condition     = var.endpoint_model_latency_ms > 0 && var.endpoint_model_latency_ms <= 60000
    error_message = "endpoint_model_latency_ms must be above 0 and at most 60000 (InvokeEndpoint's 60 s limit)."
  }
}

variable "endpoint_model_setup_time_ms" {
  description = "Serverless only: ModelSetupTime (ms, a cold start's container launch + model download) above which the alarm fires."
  type        = number
  default     = 20000

  validation {
    condition     = var.endpoint_model_setup_time_ms > 0
    error_message = "endpoint_model_setup_time_ms must be above 0."
  }
}

variable "tags" {
  description = "Tags for the alarms, the topic and (where supported) the dashboard."
  type        = map(string)
  default     = {}
}

# --- what the model answers (drift.tf) ------------------------------------------------------

variable "answers_namespace" {
  description = "CloudWatch namespace of the classify Lambda's answer metrics (its METRICS_NAMESPACE)."
  type        = string
  default     = "DogBreed/Answers"
}

variable "drift_no_dog_expected" {
  description = "Expected share of images answered \"no dog recognised\" (0-1): the validation dogs the model refused, from its metrics.json; null = no no-dog drift alarm."
  type        = number
  default     = null

  validation {
    condition     = var.drift_no_dog_expected == null || (coalesce(var.drift_no_dog_expected, 0) >= 0 && coalesce(var.drift_no_dog_expected, 0) <= 1)
    error_message = "drift_no_dog_expected must be null or a share between 0 and 1."
  }
}

variable "drift_no_dog_margin" {
  description = "How far above the expected no-dog share the rate may go before the drift-no-dog-rate alarm fires (0-1)."
  type        = number
  default     = 0.15

  validation {
    condition     = var.drift_no_dog_margin > 0 && var.drift_no_dog_margin <= 1
    error_message = "drift_no_dog_margin must be above 0 and at most 1."
  }
}

variable "drift_top1_expected" {
  description = "The model's mean top-1 probability on its validation images (metrics.json); null = no top-1 drift alarm."
  type        = number
  default     = null

  validation {
    condition     = var.drift_top1_expected == null || (coalesce(var.drift_top1_expected, 0) > 0 && coalesce(var.drift_top1_expected, 0) <= 1)
    error_message = "drift_top1_expected must be null or a probability above 0 and at most 1."
  }
}

variable "drift_top1_margin" {
  description = "How far below the validation mean the mean top-1 probability may fall before the drift-top1-probability alarm fires (0-1)."
  type        = number
  default     = 0.15

  validation {
    condition     = var.drift_top1_margin > 0 && var.drift_top1_margin <= 1
    error_message = "drift_top1_margin must be above 0 and at most 1."
  }
}

variable "drift_min_images" {
  description = "Images (no-dog alarm) or dog answers (top-1 alarm) a period needs before it is judged: fewer are not breaching."
  type        = number
  default     = 20

  validation {
    condition     = var.drift_min_images >= 1
    error_message = "drift_min_images must be at least 1."
  }
}

variable "drift_period_seconds" {
  description = "Period of the drift alarms in seconds (a multiple of 60): long enough to hold drift_min_images."
  type        = number
  default     = 3600

  validation {
    condition     = var.drift_period_seconds >= 60 && var.drift_period_seconds % 60 == 0 && var.drift_period_seconds <= 86400
    error_message = "drift_period_seconds must be a multiple of 60, at most 86400."
  }
}

variable "drift_evaluation_periods" {
  description = "Consecutive drifting periods before a drift alarm fires."
  type        = number
  default     = 1

  validation {
    condition     = var.drift_evaluation_periods >= 1 && var.drift_evaluation_periods <= 24
    error_message = "drift_evaluation_periods must be between 1 and 24."
  }
}
