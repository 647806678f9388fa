# The AWS provider. `endpoints` and the skip_* flags exist for emulators such as moto server
# (dogbreed sets them from aws.endpoint_url); with the defaults it talks to real AWS.

provider "aws" {
  region = var.region

  skip_credentials_validation = var.skip_credentials_validation
  skip_requesting_account_id  = var.skip_requesting_account_id
  skip_metadata_api_check     = var.skip_metadata_api_check
  s3_use_path_style           = var.s3_use_path_style

  endpoints {
    apigateway             = lookup(var.endpoints, "apigateway", null)
    applicationautoscaling = lookup(var.endpoints, "applicationautoscaling", null)
    cloudwatch             = lookup(var.endpoints, "cloudwatch", null)
    cloudwatchlogs         = lookup(var.endpoints, "cloudwatchlogs", null)
    codedeploy             = lookup(var.endpoints, "codedeploy", null)
    ecr                    = lookup(var.endpoints, "ecr", null)
    iam                    = lookup(var.endpoints, "iam", null)
    lambda                 = lookup(var.endpoints, "lambda", null)
    s3                     = lookup(var.endpoints, "s3", null)
    sagemaker              = lookup(var.endpoints, "sagemaker", null)
    sns                    = lookup(var.endpoints, "sns", null)
    sts                    = lookup(var.endpoints, "sts", null)
  }

  default_tags {
    tags = var.tags
  }
}
