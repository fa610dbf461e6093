"""`down`: remove every host, namespace, bridge, veth, process and mount the lab made.

Terraform's destroy provisioner does the work when its state exists; the lab's own teardown
runs afterwards regardless, so leftovers of a crashed or state-less run are cleared too.
"""

from __future__ import annotations

import sys

from sovplatform.engine.lock import PlatformLock
from sovplatform.engine.terraform import RootModule, TerraformError
from sovplatform.operations import mirror_service
from sovplatform.operations.context import Context
from sovplatform.operations.inventory import remove_inventory, reset_known_hosts
from sovplatform.operations.lab import lab_for, substrate_errors


def down(ctx: Context) -> list[str]:
    """Returns warnings (things that needed the fallback path)."""
    warnings: list[str] = []
    lab = lab_for(ctx)
    with PlatformLock(ctx.state, "down " + ctx.blueprint.name):
        journal = ctx.journal("down")
        journal.record("down", "started")
        ctx.progress.phase("mirror")
        mirror_service.stop(ctx)
        ctx.progress.phase("hosts")
        module = RootModule("lab", ctx.state / "terraform")
        spec_file = ctx.state / "lab-spec.json"
        if module.has_state() and spec_file.exists():
            try:
                module.apply(
                    {"spec_file": str(spec_file), "state_dir": str(lab.state_dir), "python": sys.executable},
                    destroy=True,
                    heartbeat=lambda: None,
                )
            except TerraformError as exc:
                warnings.append(f"terraform destroy failed ({exc}); removed the lab directly")
        with substrate_errors():
            lab.down(ctx.progress.update)
        remove_inventory(ctx.state)
        (ctx.state / "mirror-url").unlink(missing_ok=True)
        # No hosts are left to describe: a later `up` may build them on another Debian release.
        spec_file.unlink(missing_ok=True)
        reset_known_hosts(ctx.state)
        journal.record("down", "done", warnings=warnings)
    return warnings
