"""setuptools hook: compile csrc/ through cffi in API mode (see hvdbg/cpu/_build.py)."""
from setuptools import setup

setup(cffi_modules=["hvdbg/cpu/_build.py:ffibuilder"])
