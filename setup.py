"""Package discovery that pyproject.toml cannot express on its own.

The folder `datasets/` ships under the import name `sysml_datasets`, so that installing this
project never shadows Hugging Face's widely used `datasets` package.
"""
from setuptools import find_packages, setup

APPS = ["runtime", "rllib_lite", "deepquery", "neurocuts", "autopandas", "sysml_cli"]
packages = find_packages(include=[p for a in APPS for p in (a, a + ".*")])
packages += ["sysml_datasets"] + ["sysml_datasets." + p for p in find_packages("datasets")]

setup(packages=packages, package_dir={"sysml_datasets": "datasets"})
