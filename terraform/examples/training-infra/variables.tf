variable "project" {
  description = "Project name (dogbreed setting project.name); prefixes the bucket and the role."
  type        = string
  default     = "dogbreed"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,30}$", var.project))
    error_message = "project must be 1-31 lowercase letters, digits or hyphens."
  }
}

variable "region" {
  description = "AWS region of the bucket and the training jobs (dogbreed setting aws.region)."
  type        = string
  default     = "us-east-1"
}

variable "bucket_name" {
  description = "Bucket name; null = <project>-<account id>-<region>, dogbreed's default when aws.bucket is empty."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a bucket that still holds data."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS; null = SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "noncurrent_version_expiration_days" {
  description = "Expire noncurrent object versions after this many days; null = keep them (no lifecycle rule)."
  type        = number
  default     = 90
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Abort unfinished multipart uploads after this many days; null = never."
  type        = number
  default     = 7
}

variable "tags" {
  description = "Tags applied to every resource (provider default_tags)."
  type        = map(string)
  default     = { project = "dogbreed-id" }
}

variable "endpoints" {
  description = "Service endpoint overrides (keys s3, iam, sts, cloudwatch), e.g. a moto server URL for each; {} = real AWS."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.endpoints) : contains(["s3", "iam", "sts", "cloudwatch"], k)])
    error_message = "endpoints keys must be among s3, iam, sts, cloudwatch."
  }
}

variable "emulator" {
  description = "Skip the credential/account/metadata checks and use path-style S3, for emulators such as moto."
  type        = bool
  default     = false
}
