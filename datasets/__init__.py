"""Generators and small data the project ships (installed as `sysml_datasets`)."""
