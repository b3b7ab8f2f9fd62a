"""adaptx's version: a leaf module, so that the package's modules (and the build) read it without
importing adaptx/__init__."""

__version__ = "0.1.0"
