output "api_id" {
  description = "ID of the REST API."
  value       = aws_api_gateway_rest_api.this.id
}

output "invoke_url" {
  description = "Base URL of the stage (POST <invoke_url>/classify)."
  value       = aws_api_gateway_stage.this.invoke_url
}

output "classify_url" {
  description = "Full URL of POST /classify."
  value       = "${aws_api_gateway_stage.this.invoke_url}/classify"
}

output "stage_name" {
  description = "Name of the stage."
  value       = aws_api_gateway_stage.this.stage_name
}

output "api_key" {
  description = "Value of the API key (x-api-key header); null when no key is required."
  value       = var.api_key_required ? aws_api_gateway_api_key.this[0].value : null
  sensitive   = true
}

output "access_log_group_name" {
  description = "Log group of the access logs."
  value       = aws_cloudwatch_log_group.access.name
}
