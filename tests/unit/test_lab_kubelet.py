"""What the lab writes and starts differently for a host that will run a kubelet (pure parts)."""

from __future__ import annotations

from pathlib import Path

from sovplatform.substrate.lab import hosts, kubelet


def _host(tmp_path: Path, roles: tuple[str, ...]) -> hosts.LabHost:
    return hosts.LabHost("h", "dc1", "sov-t-h", tmp_path / "h", (), (), roles)


def test_only_hosts_with_a_kubernetes_role_get_capabilities_and_the_keyring_calls(tmp_path: Path) -> None:
    kube = hosts._nspawn_argv(_host(tmp_path, ("storage", "compute")))
    plain = hosts._nspawn_argv(_host(tmp_path, ("storage", "etcd")))
    assert "--capability=all" in kube and "--system-call-filter=@keyring" in kube
    assert "--drop-capability=CAP_SYS_TIME,CAP_SYS_MODULE,CAP_WAKE_ALARM" in kube
    assert not any(a.startswith(("--capability", "--drop-capability", "--system-call-filter")) for a in plain)
    assert kubelet.runs_kubelet(("control",)) and not kubelet.runs_kubelet(("gateway", "kms"))


def test_the_boot_pieces_are_written_once_and_a_second_prepare_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert kubelet.prepare_root(root, hosts._write_if_changed)
    unit = root / "etc/systemd/system" / kubelet.CGROUP_UNIT
    assert "ExecStart=/usr/local/sbin/sov-cgroup-v1-rw" in unit.read_text()
    assert (root / "usr/local/sbin/sov-cgroup-v1-rw").stat().st_mode & 0o777 == 0o755
    wants = root / "etc/systemd/system/sysinit.target.wants" / kubelet.CGROUP_UNIT
    assert str(wants.readlink()) == f"/etc/systemd/system/{kubelet.CGROUP_UNIT}"
    assert (root / "etc/tmpfiles.d/sov-kmsg.conf").read_text().startswith("c /dev/kmsg ")  # a node, not a link
    assert not kubelet.prepare_root(root, hosts._write_if_changed)


def test_only_kernel_settings_that_differ_are_changed() -> None:
    current = {"kernel.panic": "1\n", "kernel.panic_on_oops": "1\n", "vm.overcommit_memory": "0\n"}
    assert kubelet.kernel_settings_to_change(current.__getitem__) == {
        "kernel.panic": "10",
        "vm.overcommit_memory": "1",
    }
    assert kubelet.kernel_settings_to_change(lambda key: kubelet.KERNEL_SETTINGS[key] + "\n") == {}
