"""What every operation on one platform shares: its blueprint, plan, state dir and journal."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sovplatform.blueprint import Blueprint
from sovplatform.engine.journal import Journal
from sovplatform.engine.progress import Progress
from sovplatform.paths import cache_dir, state_dir
from sovplatform.plan.build import Plan, build_plan


@dataclass
class Context:
    blueprint: Blueprint
    progress: Progress
    state: Path = field(init=False)
    cache: Path = field(init=False)
    plan: Plan = field(init=False)

    def __post_init__(self) -> None:
        self.state = state_dir(self.blueprint.name)
        self.cache = cache_dir()
        self.plan = build_plan(self.blueprint)

    def journal(self, operation: str) -> Journal:
        return Journal(self.state / "journal.jsonl", operation)
