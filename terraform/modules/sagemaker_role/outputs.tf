output "role_arn" {
  description = "ARN of the SageMaker execution role (dogbreed setting aws.role_arn, or state key infrastructure.sagemaker_role_arn)."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the SageMaker execution role."
  value       = aws_iam_role.this.name
}
