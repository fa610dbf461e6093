"""The platform PKI: one CA per platform, its key encrypted at rest, certificates per endpoint."""
