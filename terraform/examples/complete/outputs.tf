output "classify_url" {
  description = "POST here (with the x-api-key header)."
  value       = module.dogbreed.classify_url
}

output "api_key" {
  description = "terraform output -raw api_key"
  value       = module.dogbreed.api_key
  sensitive   = true
}

output "endpoint_name" {
  description = "SageMaker endpoint."
  value       = module.dogbreed.endpoint_name
}

output "dashboard_url" {
  description = "CloudWatch dashboard of the serving path."
  value       = module.dogbreed.dashboard_url
}
