output "alarm_names" {
  description = "Names of the CloudWatch alarms, keyed by what they watch (api-5xx-rate, lambda-errors, ..., drift-no-dog-rate)."
  value       = { for key, alarm in merge(aws_cloudwatch_metric_alarm.this, aws_cloudwatch_metric_alarm.drift) : key => alarm.alarm_name }
}

output "alarm_arns" {
  description = "ARNs of the CloudWatch alarms, keyed like alarm_names."
  value       = { for key, alarm in merge(aws_cloudwatch_metric_alarm.this, aws_cloudwatch_metric_alarm.drift) : key => alarm.arn }
}

output "sns_topic_arn" {
  description = "ARN of the alarm topic this module created; null when none was created."
  value       = local.create_topic ? aws_sns_topic.alarms[0].arn : null
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard of the serving path."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "dashboard_url" {
  description = "Console URL of the dashboard."
  value       = "https://${var.region}.console.aws.amazon.com/cloudwatch/home?region=${var.region}#dashboards:name=${aws_cloudwatch_dashboard.this.dashboard_name}"
}
