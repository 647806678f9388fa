# The role a SageMaker model runs with: separate from the training role, it may only read its own
# model artifact, pull its own image and write the endpoint's logs. Everything it may touch is
# derived from the model's image URI and model data URL, the same inputs the model takes.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  # s3://bucket/key -> arn:aws:s3:::bucket/key
  model_object_arn = "arn:${local.partition}:s3:::${trimprefix(var.model_data_url, "s3://")}"
  # <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>[:tag|@digest]
  image          = regex("^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/([^:@]+)", var.image_uri)
  repository_arn = "arn:${local.partition}:ecr:${local.image[1]}:${local.image[0]}:repository/${local.image[2]}"
  log_group_arn  = "arn:${local.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/aws/sagemaker/Endpoints/${var.endpoint_name}"
}

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "SageMakerAssumesRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  description        = "Inference role of the ${var.endpoint_name} endpoint: read its model, pull its image, write its logs"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "access" {
  statement {
    sid       = "ReadModelArtifact"
    actions   = ["s3:GetObject"]
    resources = [local.model_object_arn]
  }

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource ARNs
  }

  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [local.repository_arn]
  }

  statement {
    sid       = "EndpointLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.log_group_arn, "${local.log_group_arn}:log-stream:*"]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "ModelKey"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "access" {
  name   = "${var.name}-access"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.access.json
}
