"""Developer tooling: Terraform runner, configuration reference."""
