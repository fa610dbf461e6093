"""What a lab host needs before a kubelet and runc can run inside it.

A lab host is a systemd-nspawn container on a machine whose kernel mounts cgroup v1 controllers.
Measured on these machines (docs/kubernetes.md): nspawn hands the controllers in read-only, its
seccomp filter refuses the session-keyring calls runc makes, there is no /dev/kmsg, and /proc/sys
is read-only, so the kernel settings a kubelet insists on must already be set machine-wide.
Hosts with a Kubernetes role (control, compute) therefore boot with every capability and the
keyring calls allowed, remount each controller writable early in boot, and get a /dev/kmsg that
reads like /dev/null (the kubelet's OOM watcher only needs it to open). None of this isolates such a host
from the machine the way a plain lab host is: its pods' cgroups sit in the machine's own
hierarchy (cgroup v1 has no cgroup namespace). It is a lab arrangement; real sites run cgroup v2
on bare metal, where none of it applies.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

KUBELET_ROLES = frozenset({"control", "compute"})

# The kubelet refuses to start unless these are set (it may not write /proc/sys from inside a
# container); they are machine-wide, so the lab sets them on the machine before booting hosts.
KERNEL_SETTINGS = {"kernel.panic": "10", "kernel.panic_on_oops": "1", "vm.overcommit_memory": "1"}

NSPAWN_OPTIONS = (
    "--capability=all",
    # ...but never the machine's clock (chrony in a host would steer it, or fail trying) nor its
    # kernel modules.
    "--drop-capability=CAP_SYS_TIME,CAP_SYS_MODULE,CAP_WAKE_ALARM",
    # runc joins a fresh session keyring for every container; nspawn's filter refuses keyctl.
    "--system-call-filter=@keyring",
)

CGROUP_UNIT = "sov-cgroup-v1-rw.service"

_CGROUP_SCRIPT = """#!/bin/sh
# nspawn hands the cgroup v1 controllers in read-only; runc and the kubelet must create cgroups
# in them. A fresh mount of each controller (as the machine mounts them) replaces the read-only one.
set -eu
mount -o remount,rw /sys/fs/cgroup
for dir in /sys/fs/cgroup/*; do
  name=${dir##*/}
  case $name in systemd|unified) continue ;; esac
  [ -L "$dir" ] && continue
  mount -t cgroup -o "$name" cgroup "$dir"
done
"""

_CGROUP_UNIT_TEXT = """[Unit]
Description=Writable cgroup v1 controllers for the kubelet (lab host)
DefaultDependencies=no
After=systemd-remount-fs.service
Before=sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/sov-cgroup-v1-rw

[Install]
WantedBy=sysinit.target
"""

# files written into a kubelet host's root: path -> (content, mode)
_FILES = {
    "usr/local/sbin/sov-cgroup-v1-rw": (_CGROUP_SCRIPT, 0o755),
    f"etc/systemd/system/{CGROUP_UNIT}": (_CGROUP_UNIT_TEXT, 0o644),
    # A node of its own with /dev/null's numbers, never a link to /dev/null: services with
    # ProtectKernelLogs= (chrony) get /dev/kmsg hidden, and through a link systemd would hide
    # /dev/null from them too.
    "etc/tmpfiles.d/sov-kmsg.conf": ("c /dev/kmsg 0600 root root - 1:3\n", 0o644),
}


_LINKS = {
    f"etc/systemd/system/sysinit.target.wants/{CGROUP_UNIT}": f"/etc/systemd/system/{CGROUP_UNIT}",
}


def runs_kubelet(roles: tuple[str, ...]) -> bool:
    return bool(KUBELET_ROLES.intersection(roles))


def prepare_root(root: Path, write: Callable[[Path, str, int], bool]) -> bool:
    """Write the boot-time pieces into a host's root; True if anything changed."""
    changed = False
    for relative, (content, mode) in _FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        changed |= write(path, content, mode)
    for link, target in _LINKS.items():
        path = root / link
        if not path.is_symlink():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(target)
            changed = True
    return changed


def kernel_settings_to_change(read: Callable[[str], str]) -> dict[str, str]:
    """The settings whose current value differs from what a kubelet needs."""
    return {key: value for key, value in KERNEL_SETTINGS.items() if read(key).strip() != value}


def _proc_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def apply_kernel_settings(progress: Callable[[str], None]) -> None:
    """Set the machine-wide kernel settings a kubelet needs, saying which ones changed."""
    changes = kernel_settings_to_change(lambda key: _proc_path(key).read_text())
    if not changes:
        return
    progress(
        "setting machine-wide kernel settings the lab's kubelets need: "
        + ", ".join(f"{key}={value}" for key, value in changes.items())
    )
    for key, value in changes.items():
        _proc_path(key).write_text(value + "\n")
