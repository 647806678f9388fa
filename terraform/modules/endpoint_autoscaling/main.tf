# Application Auto Scaling for an instance-mode SageMaker endpoint variant: a scalable target on
# the variant's instance count and a target-tracking policy on invocations per instance.
#
# AWS references:
# - Scalable target: service namespace "sagemaker", resource id
#   "endpoint/<endpoint>/variant/<variant>", dimension "sagemaker:variant:DesiredInstanceCount",
#   min capacity at least 1 and at most max capacity.
#   https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-policy.html
# - Target tracking on the predefined metric SageMakerVariantInvocationsPerInstance (invocations
#   per instance per minute, averaged over the variant's instances; AWS's example targets 70).
#   https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-policy.html
# Serverless endpoints do not scale this way: they scale per request up to MaxConcurrency, and
# their warm capacity is the ProvisionedConcurrency of modules/sagemaker_endpoint.

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "sagemaker"
  resource_id        = "endpoint/${var.endpoint_name}/variant/${var.variant_name}"
  scalable_dimension = "sagemaker:variant:DesiredInstanceCount"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity

  lifecycle {
    precondition {
      condition     = var.max_capacity >= var.min_capacity
      error_message = "max_capacity must be at least min_capacity."
    }
  }
}

resource "aws_appautoscaling_policy" "invocations" {
  name               = "${var.endpoint_name}-invocations-per-instance"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  resource_id        = aws_appautoscaling_target.this.resource_id
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.target_invocations_per_instance
    scale_in_cooldown  = var.scale_in_cooldown_seconds
    scale_out_cooldown = var.scale_out_cooldown_seconds
    disable_scale_in   = var.disable_scale_in

    predefined_metric_specification {
      predefined_metric_type = "SageMakerVariantInvocationsPerInstance"
    }
  }
}
