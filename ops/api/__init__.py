"""The API: the local API gateway over the Lambda handler, the classify client, Lambda packaging; `classify`, `api`."""
