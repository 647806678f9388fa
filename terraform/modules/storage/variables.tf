variable "bucket_name" {
  description = "Name of the bucket for data channels, model artifacts and checkpoints (dogbreed's default is <project>-<account id>-<region>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !can(regex("\\.\\.", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit."
  }
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete the bucket while it still holds objects (every version). Keep false for real data."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key ARN for SSE-KMS encryption; null uses SSE-S3 (AES256)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:aws:kms:...)."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Delete noncurrent object versions after this many days; null keeps them forever (no lifecycle rule)."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days == null || try(var.noncurrent_version_expiration_days >= 1, false)
    error_message = "noncurrent_version_expiration_days must be null or at least 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "In the lifecycle rule, abort unfinished multipart uploads (e.g. interrupted `data upload`s) after this many days; null = never."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days == null || try(var.abort_incomplete_multipart_upload_days >= 1, false)
    error_message = "abort_incomplete_multipart_upload_days must be null or at least 1."
  }
}

variable "tls_only" {
  description = "Deny every request made without TLS (bucket policy). Only for emulators reached over plain HTTP (moto server evaluates the policy) is this false."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for the bucket."
  type        = map(string)
  default     = {}
}
