output "bucket_name" {
  description = "Data/artifacts bucket (dogbreed setting aws.bucket; state infrastructure.bucket_name)."
  value       = module.storage.bucket_name
}

output "sagemaker_role_arn" {
  description = "SageMaker execution role (dogbreed setting aws.role_arn; state infrastructure.sagemaker_role_arn)."
  value       = module.sagemaker_role.role_arn
}

output "ecr_repository_url" {
  description = "Repository of the serving image: docker push <url>:<tag>, then deploy with <url>@sha256:<digest>."
  value       = module.ecr.repository_url
}

output "api_url" {
  description = "Invoke URL of the API stage (POST <api_url>/classify); null until a model is deployed."
  value       = local.serving ? module.api[0].invoke_url : null
}

output "classify_url" {
  description = "Full POST /classify URL; null until a model is deployed."
  value       = local.serving ? module.api[0].classify_url : null
}

output "api_key" {
  description = "x-api-key value when api_key_required; null otherwise."
  value       = local.serving ? module.api[0].api_key : null
  sensitive   = true
}

output "endpoint_name" {
  description = "SageMaker endpoint name; null until a model is deployed, and in endpoint_mode \"lambda\"."
  value       = local.sagemaker_serving ? module.endpoint[0].endpoint_name : null
}

output "lambda_name" {
  description = "Name of the classify Lambda; null until a model is deployed."
  value       = local.serving ? module.lambda[0].function_name : null
}

output "inference_role_arn" {
  description = "Role the SageMaker model runs with (read its artifact, pull its image, write logs); null until a model is deployed, and in endpoint_mode \"lambda\"."
  value       = local.sagemaker_serving ? module.inference_role[0].role_arn : null
}

output "model_name" {
  description = "SageMaker model behind the endpoint (what `dogbreed evaluate --batch-transform` runs); null until a model is deployed, and in endpoint_mode \"lambda\"."
  value       = local.sagemaker_serving ? module.endpoint[0].model_name : null
}

output "alarm_names" {
  description = "CloudWatch alarms of the serving path, keyed by what they watch; {} without monitoring."
  value       = local.serving && var.monitoring_enabled ? module.monitoring[0].alarm_names : {}
}

output "dashboard_url" {
  description = "Console URL of the serving dashboard; null without monitoring."
  value       = local.serving && var.monitoring_enabled ? module.monitoring[0].dashboard_url : null
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify, when one was created."
  value       = local.serving && var.monitoring_enabled ? module.monitoring[0].sns_topic_arn : null
}

output "autoscaling_resource_id" {
  description = "Application Auto Scaling resource id of the endpoint variant (instance mode); null otherwise."
  value       = length(module.autoscaling) > 0 ? module.autoscaling[0].resource_id : null
}

output "lambda_rollout" {
  description = "Lambda mode: the alias API Gateway invokes, the version this apply published and the CodeDeploy application, deployment group and configuration that shift the alias to it (`dogbreed deploy` starts that deployment); null otherwise."
  value = local.serving && local.model_in_lambda ? {
    alias                  = module.lambda[0].alias_name
    version                = module.lambda[0].version
    application            = module.lambda[0].codedeploy_app_name
    deployment_group       = module.lambda[0].deployment_group_name
    deployment_config_name = module.lambda[0].deployment_config_name
  } : null
}
