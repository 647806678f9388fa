variable "name" {
  description = "Name of the REST API (also prefixes its key, usage plan and log group)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,40}$", var.name))
    error_message = "name must be 1-40 letters, digits, hyphens or underscores."
  }
}

variable "lambda_function_name" {
  description = "Name of the Lambda behind POST /classify (receives the invoke permission)."
  type        = string
}

variable "lambda_qualifier" {
  description = "The alias API Gateway invokes (modules/lambda_classify output alias_name): the invoke permissions name it; null = the unqualified function."
  type        = string
  default     = null
}

variable "lambda_invoke_arn" {
  description = "Invoke ARN of that Lambda, or of its alias lambda_qualifier (modules/lambda_classify output invoke_arn)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:apigateway:", var.lambda_invoke_arn))
    error_message = "lambda_invoke_arn must be a Lambda invoke ARN (arn:aws:apigateway:...:lambda:path/...)."
  }
}

variable "stage_name" {
  description = "Stage name; the invoke URL ends with it."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,128}$", var.stage_name))
    error_message = "stage_name must be letters, digits, hyphens or underscores."
  }
}

variable "binary_media_types" {
  description = "Content types API Gateway passes to the Lambda base64-encoded (raw image uploads)."
  type        = list(string)
  default     = ["image/jpeg", "image/png", "application/x-image", "application/octet-stream"]
}

variable "api_key_required" {
  description = "Require an x-api-key header (creates an API key and a usage plan)."
  type        = bool
  default     = true
}

variable "throttle_rate_limit" {
  description = "Steady-state requests per second for the stage (and the usage plan)."
  type        = number
  default     = 10

  validation {
    condition     = var.throttle_rate_limit > 0
    error_message = "throttle_rate_limit must be positive."
  }
}

variable "throttle_burst_limit" {
  description = "Burst of requests allowed above the rate."
  type        = number
  default     = 20

  validation {
    condition     = var.throttle_burst_limit >= 1
    error_message = "throttle_burst_limit must be at least 1."
  }
}

variable "daily_quota" {
  description = "Requests per day per API key in the usage plan; null = no quota."
  type        = number
  default     = null
}

variable "integration_timeout_ms" {
  description = "How long API Gateway waits for the Lambda (50-29000 ms)."
  type        = number
  default     = 29000

  validation {
    condition     = var.integration_timeout_ms >= 50 && var.integration_timeout_ms <= 29000
    error_message = "integration_timeout_ms must be between 50 and 29000."
  }
}

variable "execution_logging_level" {
  description = "Execution logging level of the stage: OFF, ERROR or INFO (needs the account logging role)."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["OFF", "ERROR", "INFO"], var.execution_logging_level)
    error_message = "execution_logging_level must be OFF, ERROR or INFO."
  }
}

variable "manage_account_logging_role" {
  description = "Create the account-wide CloudWatch role API Gateway needs for logs (set false if the account already has one)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the access log group, in days."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key for the access log group; null = AWS managed."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the API, stage, key, usage plan and log group."
  type        = map(string)
  default     = {}
}

variable "cors_allowed_origins" {
  description = "Origins whose pages may call POST /classify (OPTIONS preflight + CORS headers on errors); empty = CORS off."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.cors_allowed_origins : o == "*" || can(regex("^https?://[^/\\s\"']+$", o))])
    error_message = "Each origin is \"*\" or scheme://host[:port] with no path or trailing slash, e.g. https://dogs.example.org."
  }
}

variable "serve_page" {
  description = "Answer GET / with the try-it page through the Lambda (no API key on that method)."
  type        = bool
  default     = true
}
