"""The local trainer (backend "local"): PyTorch + timm on this machine or in a SageMaker script-mode job."""
