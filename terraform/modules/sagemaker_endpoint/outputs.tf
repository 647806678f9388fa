output "endpoint_name" {
  description = "Name of the SageMaker endpoint (the Lambda's ENDPOINT_NAME)."
  value       = aws_sagemaker_endpoint.this.name
}

output "endpoint_arn" {
  description = "ARN of the endpoint (the only resource the Lambda may invoke)."
  value       = aws_sagemaker_endpoint.this.arn
}

output "endpoint_config_name" {
  description = "Name of the current endpoint configuration."
  value       = aws_sagemaker_endpoint_configuration.this.name
}

output "model_name" {
  description = "Name of the current SageMaker model."
  value       = aws_sagemaker_model.this.name
}

output "max_concurrency" {
  description = "Concurrent invocations the endpoint accepts before throttling (serverless); null in instance mode."
  value       = local.serverless ? var.serverless_max_concurrency : null
}

output "network_isolation" {
  description = "Whether the model's container runs without network access."
  value       = local.network_isolation
}

output "rollout_policy" {
  description = "The traffic shifting a model update uses: canary, linear or all_at_once (\"auto\" resolved)."
  value       = local.rollout_policy
}
