# SageMaker execution role for training and tuning jobs: assumable only by SageMaker, with a
# least-privilege inline policy (read the data prefix, write the output and checkpoint prefixes,
# the /aws/sagemaker/* log groups and metrics, and pulling the built-in algorithm image). Models
# run with their own role (modules/sagemaker_inference_role).

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id
  log_arn   = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/sagemaker/*"
  # Training reads the data prefix, writes the output prefix, and syncs checkpoints both ways.
  data        = trim(var.data_prefix, "/")
  output      = trim(var.output_prefix, "/")
  checkpoints = trim(var.checkpoint_prefix, "/")
}

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "SageMakerAssumesRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
    # No aws:SourceAccount condition: SageMaker training does not document sending it, and
    # iam:PassRole already keeps other accounts from handing this role to SageMaker.
  }
}

resource "aws_iam_role" "this" {
  name                 = var.name
  description          = "SageMaker execution role for dogbreed training and tuning jobs"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 43200 # long training jobs
  tags                 = var.tags
}

data "aws_iam_policy_document" "access" {
  statement {
    sid       = "ListOwnPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = flatten([for p in [local.data, local.output, local.checkpoints] : [p, "${p}/*"]])
    }
  }

  statement {
    sid       = "BucketLocation"
    actions   = ["s3:GetBucketLocation"]
    resources = [var.bucket_arn]
  }

  statement {
    sid       = "ReadTrainingData"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/${local.data}/*", "${var.bucket_arn}/${local.checkpoints}/*"]
  }

  statement {
    # the recipe job's script-mode source: <output>/<job>/source/sourcedir.tar.gz (ops/train/sagemaker/recipe_job.py)
    sid       = "ReadJobSource"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/${local.output}/*/source/*"]
  }

  statement {
    sid       = "WriteOutputAndCheckpoints"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${var.bucket_arn}/${local.output}/*", "${var.bucket_arn}/${local.checkpoints}/*"]
  }

  statement {
    sid = "TrainingLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = [local.log_arn, "${local.log_arn}:log-stream:*"]
  }

  statement {
    sid       = "TrainingMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource ARNs; scoped by namespace below

    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/*"]
    }
  }

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource ARNs
  }

  statement {
    sid = "PullAlgorithmImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:GetDownloadUrlForLayer",
      "ecr:BatchGetImage",
    ]
    resources = [
      for repository in [var.algorithm_repository, var.script_repository] :
      "arn:${local.partition}:ecr:${local.region}:*:repository/${repository}"
    ]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "BucketKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "access" {
  name   = "${var.name}-access"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.access.json
}
