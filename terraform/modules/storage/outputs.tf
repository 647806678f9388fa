output "bucket_name" {
  description = "Name of the bucket (dogbreed setting aws.bucket)."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the bucket, for IAM policies (modules/sagemaker_role input bucket_arn)."
  value       = aws_s3_bucket.this.arn
}
