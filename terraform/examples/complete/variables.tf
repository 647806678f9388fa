variable "model_data_url" {
  description = "s3:// URL of the trained model.tar.gz (state file: training.model_data_url)."
  type        = string
}

variable "image_uri" {
  description = "Inference image (state file: training.image_uri)."
  type        = string
  default     = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
}

variable "lambda_zip_path" {
  description = "Absolute path of the Lambda zip."
  type        = string
}

variable "alarm_email" {
  description = "E-mail the alarms notify (confirm AWS's subscription mail); \"\" = none."
  type        = string
  default     = ""
}
