"""The Kubernetes control plane as configuration (pure): kubeadm, kubelet, encryption at rest.

Every function returns plain data (dicts) that is rendered to YAML by the plan and validated
by tests against the upstream API types. Nothing here is secret: join credentials and the KMS
plugin's OpenBao token reach hosts only from the controller over SSH.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

from sovplatform.plan.inventory import REGION_LABEL, ZONE_LABEL

KUBEADM_API = "kubeadm.k8s.io/v1beta4"
KUBEPROXY_API = "kubeproxy.config.k8s.io/v1alpha1"
KUBELET_API = "kubelet.config.k8s.io/v1beta1"
ENCRYPTION_API = "apiserver.config.k8s.io/v1"

# Calico's default pool and kubeadm's default service range; both are checked against the
# sites' networks (overlap_problems) because a clash makes node addresses unroutable from pods.
POD_SUBNET = IPv4Network("192.168.0.0/16")
SERVICE_SUBNET = IPv4Network("10.96.0.0/12")
DNS_DOMAIN = "cluster.local"

# Every node runs HAProxy on loopback in front of all API servers (role kube_apiserver_lb): the
# sites share no L2 segment, so a floating VIP (keepalived/VRRP) cannot move between them.
API_LB_HOST = "127.0.0.1"
API_LB_PORT = 7443
API_PORT = 6443

PKI = "/etc/sovplatform/pki"  # the platform PKI on every host (etcd role's client cert is host.crt)
ENCRYPTION_DIR = "/etc/kubernetes/encryption"
ENCRYPTION_FILE = f"{ENCRYPTION_DIR}/config.yaml"
KMS_SOCKET_DIR = "/var/run/kmsplugin"
KMS_SOCKET = f"unix://{KMS_SOCKET_DIR}/socket.sock"
KMS_PROVIDER = "openbao-transit"
PATCHES_DIR = "/etc/kubernetes/patches"
# kubeadm applies it to the kubelet configuration it writes on that node (target
# "kubeletconfiguration"; a merge patch, the type is not a built-in API object).
KUBELET_PATCH_FILE = "kubeletconfiguration+merge.yaml"
DISCOVERY_FILE = "/etc/kubernetes/discovery.conf"
CRI_SOCKET = "unix:///run/containerd/containerd.sock"


def _args(pairs: dict[str, str]) -> list[dict[str, str]]:
    """kubeadm v1beta4 takes extra arguments as an ordered list of name/value pairs."""
    return [{"name": k, "value": v} for k, v in sorted(pairs.items())]


def overlap_problems(networks: dict[str, IPv4Network]) -> list[str]:
    """Site networks that clash with the pod or service range."""
    out = []
    for label, net in sorted(networks.items()):
        for what, cluster_net in (("pod", POD_SUBNET), ("service", SERVICE_SUBNET)):
            if net.overlaps(cluster_net):
                out.append(f"{label}: {net} overlaps the Kubernetes {what} network {cluster_net}")
    return out


def cluster_configuration(platform: str, kubernetes: str, etcd_addresses: list[str]) -> dict[str, Any]:
    """Shared by every control-plane node (kubeadm stores it in the kubeadm-config ConfigMap)."""
    hardening = {"profiling": "false"}
    return {
        "apiVersion": KUBEADM_API,
        "kind": "ClusterConfiguration",
        "clusterName": platform,
        "kubernetesVersion": f"v{kubernetes}",
        "controlPlaneEndpoint": f"{API_LB_HOST}:{API_LB_PORT}",
        "certificatesDir": "/etc/kubernetes/pki",
        # The controller's cluster keys are ECDSA P-256 (pki/kube.py); kubeadm's own certificates
        # are made the same way.
        "encryptionAlgorithm": "ECDSA-P256",
        "imageRepository": "registry.k8s.io",
        "networking": {
            "podSubnet": str(POD_SUBNET),
            "serviceSubnet": str(SERVICE_SUBNET),
            "dnsDomain": DNS_DOMAIN,
        },
        # Our etcd role's cluster (one member per site), with client TLS from the platform PKI.
        "etcd": {
            "external": {
                "endpoints": [f"https://{a}:2379" for a in etcd_addresses],
                "caFile": f"{PKI}/ca.crt",
                "certFile": f"{PKI}/host.crt",
                "keyFile": f"{PKI}/host.key",
            }
        },
        "apiServer": {
            "certSANs": [API_LB_HOST, "localhost"],
            "extraArgs": _args(
                {
                    **hardening,
                    "encryption-provider-config": ENCRYPTION_FILE,
                    "encryption-provider-config-automatic-reload": "true",
                    "audit-log-path": "/var/log/kubernetes/audit.log",
                    "audit-log-maxage": "30",
                    "audit-log-maxbackup": "10",
                    "audit-log-maxsize": "100",
                    "audit-policy-file": "/etc/kubernetes/audit/policy.yaml",
                }
            ),
            "extraVolumes": [
                _volume("encryption", ENCRYPTION_DIR, read_only=True),
                _volume("kms-socket", KMS_SOCKET_DIR, read_only=False),
                _volume("audit-policy", "/etc/kubernetes/audit", read_only=True),
                _volume("audit-log", "/var/log/kubernetes", read_only=False),
            ],
        },
        "controllerManager": {"extraArgs": _args({**hardening, "bind-address": "127.0.0.1"})},
        "scheduler": {"extraArgs": _args({**hardening, "bind-address": "127.0.0.1"})},
    }


def _volume(name: str, path: str, *, read_only: bool) -> dict[str, Any]:
    return {"name": name, "hostPath": path, "mountPath": path, "readOnly": read_only, "pathType": "DirectoryOrCreate"}


def _node_registration(host: str, region: str, zone: str, *, control: bool, substrate: str = "metal") -> dict[str, Any]:
    # Kubelets may set the topology labels on themselves (NodeRestriction allows these two).
    labels = f"{REGION_LABEL}={region},{ZONE_LABEL}={zone}"
    reg: dict[str, Any] = {
        "name": host,
        "criSocket": CRI_SOCKET,
        "imagePullPolicy": "IfNotPresent",
        "kubeletExtraArgs": _args({"node-labels": labels}),
    }
    if control:
        reg["taints"] = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    if substrate == "lab":
        # On cgroup v1 kubeadm's system verification fails even with the kubelet's failCgroupV1
        # off, and says it must be skipped explicitly (measured: docs/kubernetes.md).
        reg["ignorePreflightErrors"] = ["SystemVerification"]
    return reg


def init_configuration(host: str, address: str, region: str, zone: str, substrate: str = "metal") -> dict[str, Any]:
    """The first control-plane node: `kubeadm init --config`. No bootstrap token is declared:
    joins use short-lived tokens the controller creates and ships (see docs/kubernetes.md)."""
    return {
        "apiVersion": KUBEADM_API,
        "kind": "InitConfiguration",
        "bootstrapTokens": [],
        "localAPIEndpoint": {"advertiseAddress": address, "bindPort": API_PORT},
        "nodeRegistration": _node_registration(host, region, zone, control=True, substrate=substrate),
        "patches": {"directory": PATCHES_DIR},
    }


def join_configuration(
    host: str, address: str, region: str, zone: str, *, control: bool, substrate: str = "metal"
) -> dict[str, Any]:
    """Every other node: discovery through a kubeconfig file that holds the cluster CA and a
    short-lived bootstrap token; the controller writes it (0600) just before the join and the
    role removes it afterwards."""
    cfg: dict[str, Any] = {
        "apiVersion": KUBEADM_API,
        "kind": "JoinConfiguration",
        "discovery": {"file": {"kubeConfigPath": DISCOVERY_FILE}},
        "nodeRegistration": _node_registration(host, region, zone, control=control, substrate=substrate),
        "patches": {"directory": PATCHES_DIR},
    }
    if control:
        # The cluster CA and service-account keys are shipped by the controller beforehand, so no
        # certificate key (a secret uploaded into the cluster) is needed.
        cfg["controlPlane"] = {"localAPIEndpoint": {"advertiseAddress": address, "bindPort": API_PORT}}
    return cfg


# Lab hosts are systemd-nspawn containers on a cgroup v1 machine (docs/lab.md, docs/kubernetes.md):
# only the cgroupfs driver works there, the kubelet must be told v1 is accepted, and the machine's
# disk is shared by every host, so eviction and image garbage collection use absolute floors
# rather than percentages of a disk that is mostly someone else's.
LAB_KUBELET: dict[str, Any] = {
    "cgroupDriver": "cgroupfs",
    "failCgroupV1": False,
    "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1Gi", "imagefs.available": "1Gi"},
    "imageGCHighThresholdPercent": 100,
    "imageGCLowThresholdPercent": 99,
}


def kubelet_configuration(substrate: str = "metal") -> dict[str, Any]:
    config: dict[str, Any] = {
        "apiVersion": KUBELET_API,
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}},
        "authorization": {"mode": "Webhook"},
        "readOnlyPort": 0,
        "protectKernelDefaults": True,
        "rotateCertificates": True,
        "serverTLSBootstrap": True,
        "seccompDefault": True,
        "failSwapOn": True,
        # Node heartbeats every 10 s and NotReady after the controller's 40-50 s grace: the values
        # the drill timers in the design are judged against (upstream defaults, kept on purpose).
        "nodeStatusUpdateFrequency": "10s",
        "shutdownGracePeriod": "60s",
        "shutdownGracePeriodCriticalPods": "20s",
        "containerLogMaxSize": "50Mi",
        "containerLogMaxFiles": 5,
    }
    if substrate == "lab":
        config.update(LAB_KUBELET)
    return config


def kube_proxy_configuration(substrate: str = "metal") -> dict[str, Any] | None:
    """kube-proxy's settings, or None for upstream's defaults. On lab hosts /proc/sys is partly
    the machine's: kube-proxy may not raise nf_conntrack_max there and exits trying ("permission
    denied", measured), so it leaves the limit alone."""
    if substrate != "lab":
        return None
    return {"apiVersion": KUBEPROXY_API, "kind": "KubeProxyConfiguration", "conntrack": {"maxPerCore": 0}}


def kubelet_node_patch(host: str, substrate: str = "metal") -> dict[str, Any] | None:
    """A kubeadm patch of one node's kubelet configuration, or None. On lab hosts every kubelet
    needs a cgroup root of its own: cgroup v1 has no namespace, so all hosts share the machine's
    hierarchy, and two kubelets under one root would manage each other's pods."""
    if substrate != "lab":
        return None
    return {"cgroupRoot": lab_cgroup_root(host)}


def lab_cgroup_root(host: str) -> str:
    return f"/{host}-kubelet"


def apiserver_liveness_patch() -> dict[str, Any]:
    """kubeadm patch for the kube-apiserver static pod: liveness must not include the KMS check.

    If OpenBao is briefly unreachable, /livez fails its kms-providers check; kubelet would then
    restart every API server at once and turn a KMS hiccup into a control-plane outage. Readiness
    keeps the check, so an API server that cannot decrypt stops taking traffic instead.
    """
    return {
        "spec": {
            "containers": [
                {
                    "name": "kube-apiserver",
                    "livenessProbe": {"httpGet": {"path": "/livez?exclude=kms-providers"}},
                }
            ]
        }
    }


def encryption_configuration() -> dict[str, Any]:
    """Secrets at rest through KMS v2 (the local plugin talks to the platform OpenBao's transit
    key `kubernetes`); identity stays last so Secrets written before encryption stay readable
    until `kubectl get secrets -A -o json | kubectl replace -f -` rewrites them."""
    return {
        "apiVersion": ENCRYPTION_API,
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": ["secrets"],
                "providers": [
                    {"kms": {"apiVersion": "v2", "name": KMS_PROVIDER, "endpoint": KMS_SOCKET, "timeout": "3s"}},
                    {"identity": {}},
                ],
            }
        ],
    }


def audit_policy() -> dict[str, Any]:
    """Who did what, without request bodies (which carry Secret values)."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets", "configmaps"]}]},
            {"level": "None", "nonResourceURLs": ["/livez*", "/readyz*", "/healthz*"]},
            {"level": "Metadata"},
        ],
    }
