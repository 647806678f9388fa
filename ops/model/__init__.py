"""The model: timm backbone + offline weights, preprocessing, cached features, the dog signal, photo policy, ranking."""
