"""sovplatform: a sovereign cloud over three or more datacenters that survives losing one."""

__version__ = "0.1.0"
