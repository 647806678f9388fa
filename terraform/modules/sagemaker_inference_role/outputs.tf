output "role_arn" {
  description = "ARN of the inference role (the model's execution_role_arn)."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the inference role."
  value       = aws_iam_role.this.name
}
