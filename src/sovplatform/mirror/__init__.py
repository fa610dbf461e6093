"""The offline mirror: a flat apt repository plus a verified binary store, built from a plan's
artefact list, so hosts (lab or air-gapped site) install only what the plan pinned.

Entry points: ``build.build_mirror`` makes it, ``serve.start``/``serve.stop`` publish it.
"""

from sovplatform.mirror.errors import MirrorError
from sovplatform.mirror.manifest import MirrorManifest

__all__ = ["MirrorError", "MirrorManifest"]
