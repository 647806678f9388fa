"""Evaluation through the classify API: runner (resumable), metrics, HTML report, and `demo`."""
