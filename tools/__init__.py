"""Developer tools that keep generated files in step with their sources (`make docs`)."""
