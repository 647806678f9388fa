variable "name" {
  description = "Name of the IAM role (also prefixes its inline policy)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,57}$", var.name))
    error_message = "name must be 1-57 characters of letters, digits and +=,.@_- (IAM allows 64; the policy name appends \"-access\")."
  }
}

variable "endpoint_name" {
  description = "Endpoint the model serves (its log group is /aws/sagemaker/Endpoints/<name>)."
  type        = string
}

variable "model_data_url" {
  description = "s3://bucket/key of the model artifact: the only object the role may read."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]+/.+", var.model_data_url))
    error_message = "model_data_url must be an s3://bucket/key URL."
  }
}

variable "image_uri" {
  description = "ECR image URI of the inference container: the only repository the role may pull from."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[^:@]+", var.image_uri))
    error_message = "image_uri must be an ECR image URI such as 811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1."
  }
}

variable "kms_key_arn" {
  description = "KMS key of the artifact when it uses SSE-KMS (grants kms:Decrypt); null for SSE-S3."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the role."
  type        = map(string)
  default     = {}
}
