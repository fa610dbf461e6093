"""What the platform builds from pinned source (pure): Go programs, the pause binary, and the
container images assembled from them.

Every Go program is built from a small wrapper module under ``supply/go/<component>/<version>/``
whose go.mod pins the upstream module (for Kubernetes: every ``k8s.io/*`` staging module mapped
to its matching ``v0.x.y`` release) and whose go.sum holds the checksums the Go checksum
database vouched for. The version of a component is therefore a directory name here, a
``require`` line there, and nothing else: a version this catalogue does not list cannot be
planned (docs/supply-chain.md says how to add one).

The hosts are x86_64 (amd64) only, like the rest of the platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

NODE_ROLES = ("compute", "control")
CONTROL = ("control",)

# The build's fixed inputs: a program's digest must not depend on when or where it was built.
BUILD_DATE = "1970-01-01T00:00:00Z"
BUILD_FLAGS = ("-trimpath", "-buildvcs=false")
BASE_LDFLAGS = ("-s", "-w", "-buildid=")


@dataclass(frozen=True)
class Program:
    name: str  # file name on the hosts and in the mirror
    package: str  # Go main package, or for C the source file inside the module
    roles: tuple[str, ...] = ()  # hosts that get the file itself; () = only inside an image


@dataclass(frozen=True)
class Component:
    """One upstream module at one version, and the programs the platform takes from it."""

    name: str  # supply/go/<name>/<version>
    version: str
    module: str
    programs: tuple[Program, ...]
    licence: str  # SPDX id of the upstream module itself; the SBOM lists every dependency's
    ldflags: tuple[str, ...] = ()  # -X assignments that stamp the version in
    cgo: bool = False
    tags: tuple[str, ...] = ()
    language: Literal["go", "c"] = "go"
    cflags: tuple[str, ...] = ()
    module_version: str = ""  # the module's version when it is not "v" + version (pause)
    source_dir: str = ""  # the module that brings the source, when not supply/go/<name>/<version>
    build_packages: tuple[str, ...] = ()  # Debian packages the controller needs to build it (C parts)

    @property
    def wrapper(self) -> str:
        return self.source_dir or f"supply/go/{self.name}/{self.version}"

    @property
    def pinned(self) -> str:
        return self.module_version or f"v{self.version}"


@dataclass(frozen=True)
class ImageRecipe:
    """An image assembled from built programs (and, where the program needs userland tools, a
    Debian base layer). ``ref`` is what kubeadm and the manifests ask for; the mirror's
    registry serves it under the same repository and tag."""

    name: str
    ref: str
    programs: tuple[tuple[str, str], ...]  # (program name, path in the image)
    entrypoint: tuple[str, ...]
    roles: tuple[str, ...]
    base_packages: tuple[str, ...] = ()  # Debian packages of the base layer; () = no base
    user: str = ""
    env: tuple[str, ...] = field(default=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",))

    @property
    def version(self) -> str:
        return self.ref.rsplit(":", 1)[1]


def _k8s_ldflags(version: str) -> tuple[str, ...]:
    major, minor, _ = version.split(".")
    out: list[str] = []
    for pkg in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        out += [
            f"{pkg}.gitVersion=v{version}",
            f"{pkg}.gitMajor={major}",
            f"{pkg}.gitMinor={minor}",
            f"{pkg}.gitTreeState=clean",
            f"{pkg}.buildDate={BUILD_DATE}",
        ]
    return tuple(out)


def kubernetes(version: str) -> Component:
    cmd = "k8s.io/kubernetes/cmd/"
    return Component(
        "kubernetes",
        version,
        "k8s.io/kubernetes",
        (
            Program("kubeadm", cmd + "kubeadm", NODE_ROLES),
            Program("kubelet", cmd + "kubelet", NODE_ROLES),
            Program("kubectl", cmd + "kubectl", NODE_ROLES),
            Program("kube-apiserver", cmd + "kube-apiserver"),
            Program("kube-controller-manager", cmd + "kube-controller-manager"),
            Program("kube-scheduler", cmd + "kube-scheduler"),
            Program("kube-proxy", cmd + "kube-proxy"),
        ),
        "Apache-2.0",
        _k8s_ldflags(version),
    )


def pause(version: str, kubernetes_version: str) -> Component:
    # kubeadm's sandbox image: a static C program whose source ships in the Kubernetes module.
    return Component(
        "pause",
        version,
        "k8s.io/kubernetes",
        (Program("pause", "build/pause/linux/pause.c"),),
        "Apache-2.0",
        language="c",
        cflags=("-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{version}"),
        module_version=f"v{kubernetes_version}",
        source_dir=f"supply/go/kubernetes/{kubernetes_version}",
        build_packages=("gcc", "libc6-dev", "binutils"),
    )


def containerd(version: str) -> Component:
    cmd = "github.com/containerd/containerd/v2/cmd/"
    pkg = "github.com/containerd/containerd/v2/version"
    return Component(
        "containerd",
        version,
        "github.com/containerd/containerd/v2",
        tuple(Program(p, cmd + p, NODE_ROLES) for p in ("containerd", "containerd-shim-runc-v2", "ctr")),
        "Apache-2.0",
        (f"{pkg}.Version=v{version}", f"{pkg}.Package=github.com/containerd/containerd/v2"),
        # Snapshotters that need C libraries the hosts do not use (btrfs, devmapper) are left out.
        tags=("no_btrfs", "no_devmapper"),
    )


def runc(version: str) -> Component:
    # cgo against Debian's libseccomp: runc's seccomp support is C.
    return Component(
        "runc",
        version,
        "github.com/opencontainers/runc",
        (Program("runc", "github.com/opencontainers/runc", NODE_ROLES),),
        "Apache-2.0",
        cgo=True,
        tags=("seccomp",),
        build_packages=("gcc", "libc6-dev", "libseccomp-dev", "pkg-config"),
    )


def cni_plugins(version: str) -> Component:
    base = "github.com/containernetworking/plugins/plugins/"
    return Component(
        "cni-plugins",
        version,
        "github.com/containernetworking/plugins",
        tuple(
            Program(name, base + path, NODE_ROLES)
            for name, path in (
                ("bridge", "main/bridge"),
                ("host-local", "ipam/host-local"),
                ("loopback", "main/loopback"),
                ("portmap", "meta/portmap"),
            )
        ),
        "Apache-2.0",
        (f"github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=v{version}",),
    )


def crictl(version: str) -> Component:
    return Component(
        "crictl",
        version,
        "sigs.k8s.io/cri-tools",
        (Program("crictl", "sigs.k8s.io/cri-tools/cmd/crictl", NODE_ROLES),),
        "Apache-2.0",
        (f"sigs.k8s.io/cri-tools/pkg/version.Version=v{version}",),
    )


def coredns(version: str) -> Component:
    return Component(
        "coredns",
        version,
        "github.com/coredns/coredns",
        (Program("coredns", "github.com/coredns/coredns"),),
        "Apache-2.0",
    )


# The platform's own KMS v2 plugin (supply/kms-openbao): the API server's data encryption keys
# wrapped by OpenBao's transit engine. Built like the upstream programs, from its own module.
KMS_OPENBAO_VERSION = "0.1.0"


def kms_openbao() -> Component:
    return Component(
        "kms-openbao",
        KMS_OPENBAO_VERSION,
        "sovplatform.build/kms-openbao",
        (Program("kms-openbao", "sovplatform.build/kms-openbao", CONTROL),),
        "Apache-2.0",
        source_dir="supply/kms-openbao",
    )


# etcd releases the platform builds and runs (the etcd role, and kubeadm's external etcd, which
# must be 3.5.24 or newer for Kubernetes 1.36). Independent of the Kubernetes layer: the
# platform's etcd runs whether or not the layer is deployed.
ETCD_RELEASES = ("3.6.17",)


def etcd(version: str) -> list[Component]:
    """etcd server and client: two modules of one release."""
    roles = ("etcd",)
    return [
        Component(
            "etcd",
            version,
            "go.etcd.io/etcd/server/v3",
            (Program("etcd", "go.etcd.io/etcd/server/v3", roles),),
            "Apache-2.0",
        ),
        Component(
            "etcdctl",
            version,
            "go.etcd.io/etcd/etcdctl/v3",
            (Program("etcdctl", "go.etcd.io/etcd/etcdctl/v3", roles),),
            "Apache-2.0",
        ),
    ]


@dataclass(frozen=True)
class Stack:
    """The set built and tested with one Kubernetes release."""

    kubernetes: str
    containerd: str
    runc: str
    cni_plugins: str
    crictl: str
    coredns: str
    pause: str
    etcd: str

    def components(self) -> list[Component]:
        return [
            kubernetes(self.kubernetes),
            pause(self.pause, self.kubernetes),
            containerd(self.containerd),
            runc(self.runc),
            cni_plugins(self.cni_plugins),
            crictl(self.crictl),
            coredns(self.coredns),
            *etcd(self.etcd),
            kms_openbao(),
        ]

    def images(self) -> list[ImageRecipe]:
        k = "registry.k8s.io"
        v = f"v{self.kubernetes}"
        bin_ = "/usr/local/bin/"
        control = [
            ImageRecipe(c, f"{k}/{c}:{v}", ((c, bin_ + c),), (bin_ + c,), CONTROL)
            for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
        ]
        return [
            *control,
            # kube-proxy programs iptables and reads conntrack: it needs their userland tools.
            ImageRecipe(
                "kube-proxy",
                f"{k}/kube-proxy:{v}",
                (("kube-proxy", bin_ + "kube-proxy"),),
                (bin_ + "kube-proxy",),
                NODE_ROLES,
                base_packages=("iptables", "conntrack", "kmod"),
            ),
            ImageRecipe(
                "coredns",
                f"{k}/coredns/coredns:v{self.coredns}",
                (("coredns", "/coredns"),),
                ("/coredns",),
                NODE_ROLES,
                user="65532",
            ),
            ImageRecipe(
                "pause", f"{k}/pause:{self.pause}", (("pause", "/pause"),), ("/pause",), NODE_ROLES, user="65535"
            ),
        ]


# Keyed by the blueprint's versions.kubernetes. Companion versions are not blueprint inputs
# (except containerd, which the blueprint states and validate checks against this table):
# changing Kubernetes picks the set built and tested with it.
STACKS: dict[str, Stack] = {
    "1.36.3": Stack("1.36.3", "2.4.2", "1.5.3", "1.10.0", "1.37.0", "1.14.2", "3.10.2", "3.6.17"),
    "1.37.2": Stack("1.37.2", "2.4.2", "1.5.3", "1.10.0", "1.37.0", "1.14.6", "3.10.2", "3.6.17"),
}

# Programs the controller itself needs to build and serve the mirror and to drive substrates.
# They are built the same way (pinned wrapper modules), but never shipped to hosts.
TOOLS: dict[str, Component] = {
    "cyclonedx-gomod": Component(
        "cyclonedx-gomod",
        "1.10.0",
        "github.com/CycloneDX/cyclonedx-gomod",
        (Program("cyclonedx-gomod", "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod"),),
        "Apache-2.0",
    ),
    "registry": Component(
        "registry",
        "3.1.2",
        "github.com/distribution/distribution/v3",
        (Program("registry", "github.com/distribution/distribution/v3/cmd/registry"),),
        "Apache-2.0",
        ("github.com/distribution/distribution/v3/version.version=v3.1.2",),
    ),
    "ocibuild": Component(
        "ocibuild",
        "0.1.0",
        "sovplatform.build/ocibuild",
        (Program("ocibuild", "sovplatform.build/ocibuild"),),
        "Apache-2.0",
        source_dir="supply/ocibuild",
    ),
    "opentofu": Component(
        "opentofu",
        "1.12.6",
        "github.com/opentofu/opentofu",
        (Program("tofu", "github.com/opentofu/opentofu/cmd/tofu"),),
        "MPL-2.0",
        ("github.com/opentofu/opentofu/version.dev=no",),
    ),
}


def stack(kubernetes_version: str) -> Stack | None:
    return STACKS.get(kubernetes_version)


def all_components() -> list[Component]:
    """Every component of every stack and tool, once (for consistency checks and docs)."""
    seen: dict[tuple[str, str], Component] = {}
    for s in STACKS.values():
        for c in s.components():
            seen.setdefault((c.name, c.version), c)
    for c in TOOLS.values():
        seen.setdefault((c.name, c.version), c)
    return [seen[k] for k in sorted(seen)]
