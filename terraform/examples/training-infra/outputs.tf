output "bucket_name" {
  description = "Data/artifacts bucket (dogbreed setting aws.bucket)."
  value       = module.storage.bucket_name
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = module.storage.bucket_arn
}

output "sagemaker_role_arn" {
  description = "SageMaker execution role (dogbreed setting aws.role_arn)."
  value       = module.sagemaker_role.role_arn
}

output "sagemaker_role_name" {
  description = "Name of the SageMaker execution role."
  value       = module.sagemaker_role.role_name
}
