"""`dogbreed data audit`: images that are probably mislabeled or not dogs, found with a trained head."""
