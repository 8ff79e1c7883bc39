"""Offline stand-in for the get-pip.py bootstrap that ansible-test downloads from a host our machines cannot
reach. ansible-test runs it in each fresh sanity venv with pip's own install arguments; pip itself comes from
the interpreter's bundled ensurepip, then pip installs exactly what ansible-test asked for (pip==<version>,
from PyPI). Nothing about the sanity tests changes."""

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
