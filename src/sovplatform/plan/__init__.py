"""Plan: everything derived from a blueprint (pure, deterministic), before any host is touched.

Import from the submodules (``sovplatform.plan.build``); keeping this package empty of
imports lets the blueprint rules use the artefact catalogue without an import cycle.
"""
