"""SageMaker training: built-in algorithm jobs, recipe jobs, tuning, job watching, the script-mode entry point."""
