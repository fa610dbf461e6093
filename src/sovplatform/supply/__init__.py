"""Artefacts built from pinned sources: Go programs, the pause binary, container images, their
SBOMs, and the OCI registry that serves the images (docs/supply-chain.md)."""
