output "resource_id" {
  description = "Application Auto Scaling resource id of the variant (endpoint/<name>/variant/<variant>)."
  value       = aws_appautoscaling_target.this.resource_id
}

output "policy_arn" {
  description = "ARN of the target-tracking policy."
  value       = aws_appautoscaling_policy.invocations.arn
}

output "capacity" {
  description = "The instance-count range the variant scales within."
  value       = { min = aws_appautoscaling_target.this.min_capacity, max = aws_appautoscaling_target.this.max_capacity }
}
