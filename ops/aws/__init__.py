"""AWS leaf helpers every stage may use: boto3 sessions and clients, the built-in and PyTorch image tables."""
