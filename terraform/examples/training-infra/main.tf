# Example: the training infrastructure alone (data/artifacts bucket + SageMaker execution role),
# named the way `dogbreed` expects (bucket "<project>-<account id>-<region>").
#
#   terraform init && terraform apply
#   export DOGBREED_AWS__ROLE_ARN=$(terraform output -raw sagemaker_role_arn)
#
# Set `endpoints` (and the skip_* flags) to run it against an emulator such as moto server.

provider "aws" {
  region = var.region

  skip_credentials_validation = var.emulator
  skip_requesting_account_id  = var.emulator
  skip_metadata_api_check     = var.emulator
  s3_use_path_style           = var.emulator

  endpoints {
    s3         = lookup(var.endpoints, "s3", null)
    iam        = lookup(var.endpoints, "iam", null)
    sts        = lookup(var.endpoints, "sts", null)
    cloudwatch = lookup(var.endpoints, "cloudwatch", null)
  }

  default_tags {
    tags = var.tags
  }
}

data "aws_caller_identity" "current" {}

locals {
  bucket_name = coalesce(var.bucket_name, lower("${var.project}-${data.aws_caller_identity.current.account_id}-${var.region}"))
}

module "storage" {
  source = "../../modules/storage"

  bucket_name   = local.bucket_name
  force_destroy = var.force_destroy
  kms_key_arn   = var.kms_key_arn
  tags          = { Name = local.bucket_name }

  noncurrent_version_expiration_days     = var.noncurrent_version_expiration_days
  abort_incomplete_multipart_upload_days = var.abort_incomplete_multipart_upload_days
}

module "sagemaker_role" {
  source = "../../modules/sagemaker_role"

  name        = "${var.project}-sagemaker-execution"
  bucket_arn  = module.storage.bucket_arn
  kms_key_arn = var.kms_key_arn
  tags        = { Name = "${var.project}-sagemaker-execution" }
}
