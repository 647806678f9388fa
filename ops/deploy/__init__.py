"""Deploy: the Terraform driver, `deploy`/`destroy` of the serving stack, its idle cost."""
