"""The versions datasets record: the package's, and the generator's (bumped whenever the rows generated for a
given config and seed change)."""

__version__ = "0.1.0"
GENERATOR_VERSION = "2.0"
