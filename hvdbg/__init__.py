"""hvdbg: hypervisor-based fault tolerance as a debugging and tracing environment."""

__version__ = "0.1.0"
