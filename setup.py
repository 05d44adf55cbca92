"""Package layout for setuptools (the metadata is in pyproject.toml).

Everything installs under the single import root ``hybridgen``: ``hybridgen/`` holds only the
root package, and each of the design card's top-level folders (``rtl/``, ``gen/``, ``golden/``,
``verif/``, ``synth/``, ``bench/``) is mapped to ``hybridgen.<folder>``. No other top-level module
is installed.
"""

from setuptools import find_packages, setup

SUBPACKAGES = ("rtl", "gen", "golden", "verif", "synth", "bench")

packages = ["hybridgen"]
package_dir = {"hybridgen": "hybridgen"}
for root in SUBPACKAGES:
    package_dir[f"hybridgen.{root}"] = root
    packages.append(f"hybridgen.{root}")
    packages += [f"hybridgen.{root}.{sub}" for sub in find_packages(root)]

setup(packages=packages, package_dir=package_dir)
