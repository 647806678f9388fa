"""Dog Breed ID operations package: the `dogbreed` CLI and the code behind each stage."""

__version__ = "0.1.0"
