"""Serving: Lambda packaging, the Terraform driver (deploy/destroy), the local API gateway, the classify client."""
