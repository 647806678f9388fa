"""The data path: fetch Stanford Dogs, validate/repair, split, write LST manifests, upload to S3."""
