variable "name" {
  description = "Repository name (the image URI is <account>.dkr.ecr.<region>.amazonaws.com/<name>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.name)) && length(var.name) >= 2 && length(var.name) <= 256
    error_message = "name must be 2-256 lowercase letters, digits and ._-/ separators (ECR repository naming rules)."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the images; null = AES-256 (ECR-managed keys)."
  type        = string
  default     = null
}

variable "keep_images" {
  description = "How many images the lifecycle policy keeps (newest first); older ones expire."
  type        = number
  default     = 10

  validation {
    condition     = var.keep_images >= 1 && var.keep_images <= 1000
    error_message = "keep_images must be between 1 and 1000."
  }
}

variable "untagged_expiry_days" {
  description = "Days after which untagged images (left by interrupted pushes) expire."
  type        = number
  default     = 7

  validation {
    condition     = var.untagged_expiry_days >= 1
    error_message = "untagged_expiry_days must be at least 1."
  }
}

variable "force_delete" {
  description = "Delete the repository even when it holds images (tests and emulators); false keeps images safe."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the repository."
  type        = map(string)
  default     = {}
}
