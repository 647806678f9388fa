"""The evaluation report: write.py writes metrics.json, per_class.csv and report.html from the same numbers."""
