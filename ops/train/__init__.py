"""Training: the `train` and `tune` commands; local/ (the PyTorch/timm trainer), sagemaker/ (jobs, tuning, entry point)."""
