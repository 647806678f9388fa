variable "endpoint_name" {
  description = "Name of the instance-mode SageMaker endpoint to scale."
  type        = string

  validation {
    condition     = length(var.endpoint_name) > 0
    error_message = "endpoint_name must not be empty."
  }
}

variable "variant_name" {
  description = "Production variant whose instance count is scaled."
  type        = string
  default     = "AllTraffic"
}

variable "min_capacity" {
  description = "Fewest instances the variant scales in to (at least 1: instance endpoints cannot scale to zero)."
  type        = number
  default     = 1

  validation {
    condition     = var.min_capacity >= 1 && floor(var.min_capacity) == var.min_capacity
    error_message = "min_capacity must be a whole number of at least 1."
  }
}

variable "max_capacity" {
  description = "Most instances the variant scales out to (bounds the cost; at least min_capacity)."
  type        = number
  default     = 4

  validation {
    condition     = var.max_capacity >= 1 && floor(var.max_capacity) == var.max_capacity
    error_message = "max_capacity must be a whole number of at least 1."
  }
}

variable "target_invocations_per_instance" {
  description = "Invocations per instance per minute that target tracking holds the variant at (measure one instance's capacity and take about half)."
  type        = number
  default     = 100

  validation {
    condition     = var.target_invocations_per_instance > 0
    error_message = "target_invocations_per_instance must be above 0."
  }
}

variable "scale_in_cooldown_seconds" {
  description = "Seconds after a scale-in before the next scale-in."
  type        = number
  default     = 300

  validation {
    condition     = var.scale_in_cooldown_seconds >= 0
    error_message = "scale_in_cooldown_seconds must not be negative."
  }
}

variable "scale_out_cooldown_seconds" {
  description = "Seconds after a scale-out before the next scale-out."
  type        = number
  default     = 60

  validation {
    condition     = var.scale_out_cooldown_seconds >= 0
    error_message = "scale_out_cooldown_seconds must not be negative."
  }
}

variable "disable_scale_in" {
  description = "Only ever add instances (scale in by hand)."
  type        = bool
  default     = false
}
