variable "name" {
  description = "Name of the IAM role (also prefixes its inline policy)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,57}$", var.name))
    error_message = "name must be 1-57 characters of letters, digits and +=,.@_- (the policy name appends \"-access\")."
  }
}

variable "bucket_arn" {
  description = "ARN of the data/artifacts bucket (modules/storage output bucket_arn); the role may use only this bucket."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN such as arn:aws:s3:::my-bucket."
  }
}

variable "data_prefix" {
  description = "Key prefix of the training data (dogbreed setting aws.data_prefix): read only."
  type        = string
  default     = "stanford-dogs"

  validation {
    condition     = length(trim(var.data_prefix, "/")) > 0
    error_message = "data_prefix must not be empty (the role would read the whole bucket)."
  }
}

variable "output_prefix" {
  description = "Key prefix of the model artifacts (aws.output_prefix): written."
  type        = string
  default     = "training-output"

  validation {
    condition     = length(trim(var.output_prefix, "/")) > 0
    error_message = "output_prefix must not be empty."
  }
}

variable "checkpoint_prefix" {
  description = "Key prefix of spot checkpoints (aws.checkpoint_prefix): read and written."
  type        = string
  default     = "checkpoints"

  validation {
    condition     = length(trim(var.checkpoint_prefix, "/")) > 0
    error_message = "checkpoint_prefix must not be empty."
  }
}

variable "algorithm_repository" {
  description = "ECR repository name of the training image the role may pull (the built-in algorithm's)."
  type        = string
  default     = "image-classification"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._/-]*$", var.algorithm_repository))
    error_message = "algorithm_repository must be an ECR repository name."
  }
}

variable "kms_key_arn" {
  description = "KMS key of the bucket when it uses SSE-KMS (grants Decrypt/GenerateDataKey on it); null for SSE-S3."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags for the role."
  type        = map(string)
  default     = {}
}
