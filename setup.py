"""Package list for setuptools (all other metadata is in pyproject.toml).

pyproject.toml cannot rename a folder, and the top-level ``configs/`` folder ships as the package
``medclip_configs`` (found at run time by ``medclip.resources``), so the package list is computed here.
"""

from setuptools import find_namespace_packages, setup

CODE = find_namespace_packages(include=["medclip*", "data_pipelines*", "zeroshot*"])
CONFIGS = ["medclip_configs"] + [f"medclip_configs.{p}" for p in find_namespace_packages(where="configs")]

setup(packages=CODE + CONFIGS, package_dir={"medclip_configs": "configs"})
