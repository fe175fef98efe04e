"""Top-level fixtures/ and themes/ install as the packages axtui.fixtures and axtui.themes.

pyproject.toml cannot combine a package search with extra mapped packages, so the package
list is computed here; everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

MAPPED = {"axtui.fixtures": "fixtures", "axtui.themes": "themes"}

setup(
    packages=find_packages(include=["axtui", "axtui.*"]) + list(MAPPED),
    package_dir=MAPPED,
)
