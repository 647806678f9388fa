output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "ARN API Gateway uses in its Lambda proxy integration: the alias's with alias_name, else the function's ($LATEST)."
  value       = local.alias ? aws_lambda_alias.live[0].invoke_arn : aws_lambda_function.this.invoke_arn
}

output "alias_name" {
  description = "The alias callers invoke (give it as the invoke permission's qualifier); null without alias_name."
  value       = local.alias ? aws_lambda_alias.live[0].name : null
}

output "version" {
  description = "The version this apply published (the alias moves to it through CodeDeploy); null without alias_name."
  value       = local.alias ? aws_lambda_function.this.version : null
}

output "codedeploy_app_name" {
  description = "CodeDeploy application of the alias's deployments; null without alias_name."
  value       = local.alias ? aws_codedeploy_app.this[0].name : null
}

output "deployment_group_name" {
  description = "CodeDeploy deployment group that shifts the alias; null without alias_name."
  value       = local.alias ? aws_codedeploy_deployment_group.this[0].deployment_group_name : null
}

output "deployment_config_name" {
  description = "The deployment configuration the rollout settings map to (predefined CodeDeployDefault.Lambda* or custom); null without alias_name."
  value       = local.alias ? local.deployment_config_name : null
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "Name of the function's log group."
  value       = aws_cloudwatch_log_group.this.name
}
