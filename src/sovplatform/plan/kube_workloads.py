"""What runs on the cluster, as manifests (pure): platform service endpoints, ceph-csi RBD
storage with OpenBao-held volume passphrases, KubeVirt and CDI, the VM template, log shipping.

Inputs are plan facts (addresses, versions, sites); outputs are plain dicts, validated by the
tests against the pinned Kubernetes version's schema (and KubeVirt's for its kinds).
"""

from __future__ import annotations

import json
from typing import Any

from sovplatform.plan.inventory import ZONE_LABEL

PLATFORM_NS = "platform-services"
CSI_NS = "ceph-csi-rbd"
CSI_DRIVER = "rbd.csi.ceph.com"
LOGGING_NS = "platform-logging"
KMS_ID = "openbao-volumes"
SC_DEFAULT = "ceph-rbd"
SC_BLOCK = "ceph-rbd-block"
OPENBAO_PORT = 8200
S3_PORT = 9443
CEPH_MON_PORT = 6789
LABELS = {"app.kubernetes.io/part-of": "sovplatform"}
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}
# The CSI node plugin, the log shipper and virt-handler need host access: those namespaces
# enforce "privileged" and only audit against "restricted".
PRIVILEGED = {"pod-security.kubernetes.io/enforce": "privileged", "pod-security.kubernetes.io/audit": "restricted"}


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(LABELS)}
    if namespace:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def namespace(name: str, psa: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {**LABELS, **psa}}}


def service_endpoints(name: str, addresses: list[str], ports: dict[str, int]) -> list[dict[str, Any]]:
    """A selector-less Service backed by platform hosts outside the cluster (OpenBao voters, S3
    gateways): pods reach every site's instance through one name, and kube-proxy skips the
    endpoints of a dead site once the EndpointSlice is updated (see docs/kubernetes.md)."""
    port_list = [{"name": p, "port": n, "protocol": "TCP"} for p, n in sorted(ports.items())]
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(name, PLATFORM_NS),
            "spec": {"type": "ClusterIP", "ports": [{**p, "targetPort": p["port"]} for p in port_list]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-hosts",
                "namespace": PLATFORM_NS,
                "labels": {**LABELS, "kubernetes.io/service-name": name},
            },
            "addressType": "IPv4",
            "ports": port_list,
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses],
        },
    ]


def ceph_csi_config(fsid: str, monitors: list[str], pool: str) -> list[dict[str, Any]]:
    clusters = [{"clusterID": fsid, "monitors": [f"{m}:{CEPH_MON_PORT}" for m in monitors]}]
    kms = {
        KMS_ID: {
            # Token per tenant namespace (Secret ceph-csi-kms-token, created by the controller from
            # the `volumes` consumer token): passphrases live in the platform OpenBao's kv-v2 engine
            # under kv/data/volumes/, the only path that token may touch.
            "encryptionKMSType": "vaulttokens",
            "vaultAddress": f"https://openbao.{PLATFORM_NS}.svc:{OPENBAO_PORT}",
            "vaultBackend": "kv-v2",
            "vaultBackendPath": "kv/volumes/",
            "vaultDestroyKeys": "true",
            "vaultCAVerify": "true",
            "vaultCAFromSecret": "openbao-ca",
            "tenantTokenName": "ceph-csi-kms-token",
        }
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("ceph-csi-config", CSI_NS),
            "data": {"config.json": json.dumps(clusters, sort_keys=True), "cluster-mapping.json": "[]"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("ceph-csi-encryption-kms-config", CSI_NS),
            "data": {"config.json": json.dumps(kms, sort_keys=True)},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("ceph-config", CSI_NS),
            # ceph-csi reads ceph.conf; the cluster's monitors come from ceph-csi-config.
            "data": {
                "ceph.conf": "[global]\nauth_cluster_required = cephx\nauth_service_required = cephx\n"
                "auth_client_required = cephx\n",
                "keyring": "",
            },
        },
        storage_class(fsid, pool, SC_DEFAULT, default=True),
        storage_class(fsid, pool, SC_BLOCK, default=False),
    ]


def storage_class(fsid: str, pool: str, name: str, *, default: bool) -> dict[str, Any]:
    """RBD images, LUKS-encrypted by the node plugin with a per-volume passphrase from OpenBao.

    The default class serves ReadWriteOnce filesystems; the block class is what RWX block volumes
    for KubeVirt live migration use (ReadWriteMany is only allowed for volumeMode: Block, which the
    PVC, not the class, declares). Both bind immediately: a volume is reachable from every site.
    """
    secret_ns = CSI_NS
    annotations = {"storageclass.kubernetes.io/is-default-class": "true" if default else "false"}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": _meta(name, annotations=annotations),
        "provisioner": CSI_DRIVER,
        "parameters": {
            "clusterID": fsid,
            "pool": pool,
            "imageFeatures": "layering,exclusive-lock,object-map,fast-diff",
            "encrypted": "true",
            "encryptionKMSID": KMS_ID,
            "csi.storage.k8s.io/provisioner-secret-name": "csi-rbd-secret",
            "csi.storage.k8s.io/provisioner-secret-namespace": secret_ns,
            "csi.storage.k8s.io/controller-expand-secret-name": "csi-rbd-secret",
            "csi.storage.k8s.io/controller-expand-secret-namespace": secret_ns,
            "csi.storage.k8s.io/node-stage-secret-name": "csi-rbd-secret",
            "csi.storage.k8s.io/node-stage-secret-namespace": secret_ns,
            **({"csi.storage.k8s.io/fstype": "ext4"} if default else {}),
        },
        "reclaimPolicy": "Delete",
        "allowVolumeExpansion": True,
        "volumeBindingMode": "Immediate",
        "mountOptions": ["discard"] if default else [],
    }


def kubevirt_cr(namespace_name: str = "kubevirt") -> dict[str, Any]:
    """The KubeVirt install: live migration over the cluster network, workloads updated by live
    migration, and VMs evicted by live migration when a node is drained."""
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "KubeVirt",
        "metadata": {"name": "kubevirt", "namespace": namespace_name},
        "spec": {
            "certificateRotateStrategy": {},
            "configuration": {
                "developerConfiguration": {"featureGates": []},
                "evictionStrategy": "LiveMigrate",
                "migrations": {
                    # Cross-site migrations copy memory over the WAN: bound them and let them
                    # converge by throttling the guest instead of looping forever.
                    "parallelMigrationsPerCluster": 3,
                    "parallelOutboundMigrationsPerNode": 1,
                    "bandwidthPerMigration": "500Mi",
                    "completionTimeoutPerGiB": 300,
                    "progressTimeout": 300,
                    "allowAutoConverge": True,
                },
            },
            "workloadUpdateStrategy": {"workloadUpdateMethods": ["LiveMigrate"]},
            "imagePullPolicy": "IfNotPresent",
        },
    }


def cdi_cr() -> dict[str, Any]:
    return {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "CDI",
        "metadata": {"name": "cdi"},
        "spec": {
            "imagePullPolicy": "IfNotPresent",
            "infra": {"nodeSelector": {"kubernetes.io/os": "linux"}},
            "config": {"scratchSpaceStorageClass": SC_DEFAULT, "featureGates": ["HonorWaitForFirstConsumer"]},
            "workload": {"nodeSelector": {"kubernetes.io/os": "linux"}},
        },
    }


def vm_template(name: str, namespace_name: str, size: str = "20Gi", image_url: str = "") -> dict[str, Any]:
    """A VM that survives the loss of its node or site.

    runStrategy Always: KubeVirt recreates the VMI whenever it is gone - but on a node that is
    merely unreachable only after that node is fenced (docs/kubernetes.md). evictionStrategy
    LiveMigrate: a drain moves it without a restart. The disk is an RWX block PVC on Ceph RBD, so
    a target node in any site can open it during migration. Replicas of one application are spread
    per zone (site) by the topology constraint on the app label.
    """
    app = {"app.kubernetes.io/name": name}
    source: dict[str, Any] = {"http": {"url": image_url}} if image_url else {"blank": {}}
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": namespace_name, "labels": {**LABELS, **app}},
        "spec": {
            "runStrategy": "Always",
            "dataVolumeTemplates": [
                {
                    "metadata": {"name": f"{name}-root"},
                    "spec": {
                        "source": source,
                        "storage": {
                            "accessModes": ["ReadWriteMany"],
                            "volumeMode": "Block",
                            "storageClassName": SC_BLOCK,
                            "resources": {"requests": {"storage": size}},
                        },
                    },
                }
            ],
            "template": {
                "metadata": {"labels": {**LABELS, **app}},
                "spec": {
                    "evictionStrategy": "LiveMigrate",
                    "terminationGracePeriodSeconds": 60,
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": ZONE_LABEL,
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": app},
                        }
                    ],
                    "domain": {
                        "cpu": {"cores": 2},
                        "memory": {"guest": "4Gi"},
                        "resources": {"requests": {"memory": "4Gi"}},
                        "devices": {
                            "disks": [{"name": "root", "disk": {"bus": "virtio"}}],
                            "interfaces": [{"name": "default", "masquerade": {}}],
                        },
                    },
                    "networks": [{"name": "default", "pod": {}}],
                    "volumes": [{"name": "root", "dataVolume": {"name": f"{name}-root"}}],
                },
            },
        },
    }


# Findings of the checkov scan (tests/unit/test_kubernetes_manifests.py) accepted for the log
# shipper, each with its reason, where checkov reads them: on the resource itself.
CHECKOV_SKIPS_LOG_SHIPPER = {
    "checkov.io/skip1": "CKV_K8S_23=runs as root: container log files and the journal are root-only on the host",
    "checkov.io/skip2": "CKV_K8S_40=runs as root (see CKV_K8S_23); no other privilege, all capabilities dropped",
    "checkov.io/skip3": "CKV_K8S_25=the one added capability, DAC_READ_SEARCH, is what reading other users' logs takes",
    "checkov.io/skip4": "CKV_K8S_38=the kubernetes filter reads pod metadata from the API with this token",
    "checkov.io/skip5": "CKV_K8S_15=IfNotPresent on purpose: images come by pinned tag from the site's own registry",
    "checkov.io/skip6": "CKV_K8S_43=digests get pinned when images enter the site registry (mirror build lists them)",
}

FLUENT_BIT_CONFIG = """[SERVICE]
    Flush         5
    Daemon        off
    Log_Level     info
    HTTP_Server   On
    HTTP_Listen   0.0.0.0
    HTTP_Port     2020
    storage.path  /var/lib/fluent-bit/buffer

[INPUT]
    Name              tail
    Path              /var/log/containers/*.log
    multiline.parser  cri
    Tag               kube.*
    Mem_Buf_Limit     32MB
    storage.type      filesystem
    DB                /var/lib/fluent-bit/tail.db

[INPUT]
    Name              systemd
    Tag               host.*
    Read_From_Tail    On
    DB                /var/lib/fluent-bit/journal.db

[FILTER]
    Name              kubernetes
    Match             kube.*
    Merge_Log         On
    Labels            On
    Annotations       Off

[OUTPUT]
    Name              s3
    Match             *
    bucket            {bucket}
    region            {region}
    endpoint          https://s3.{ns}.svc:{port}
    tls.verify        On
    use_put_object    On
    total_file_size   16M
    upload_timeout    1m
    compression       gzip
    s3_key_format     /{platform}/$TAG[0]/%Y/%m/%d/%H%M%S-$UUID.gz
"""


def log_shipping(platform: str, image: str, bucket: str = "platform-logs") -> list[dict[str, Any]]:
    """Fluent Bit on every node ships container and journal logs to a bucket on the platform's
    own Ceph RGW (through the S3 gateways): the logs never leave the platform. Credentials come
    from the Secret platform-logs-s3 (key `credentials`, an AWS-style credentials file), which
    the controller creates; it is not part of any rendered manifest."""
    config = FLUENT_BIT_CONFIG.format(bucket=bucket, region=platform, ns=PLATFORM_NS, port=S3_PORT, platform=platform)
    name = "fluent-bit"
    sel = {"app.kubernetes.io/name": name}
    host_paths = {"varlog": "/var/log", "journal": "/run/log/journal", "state": "/var/lib/fluent-bit"}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(name, LOGGING_NS),
            "automountServiceAccountToken": True,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta("platform-fluent-bit-read"),
            "rules": [{"apiGroups": [""], "resources": ["namespaces", "pods"], "verbs": ["get", "list", "watch"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta("platform-fluent-bit-read"),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "platform-fluent-bit-read",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": LOGGING_NS}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(name, LOGGING_NS),
            "data": {"fluent-bit.conf": config},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": _meta(name, LOGGING_NS, annotations=CHECKOV_SKIPS_LOG_SHIPPER),
            "spec": {
                "selector": {"matchLabels": sel},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                "template": {
                    "metadata": {"labels": {**LABELS, **sel}},
                    "spec": {
                        "serviceAccountName": name,
                        "priorityClassName": "system-node-critical",
                        "tolerations": [{"operator": "Exists"}],
                        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [
                            {
                                "name": name,
                                "image": image,
                                "imagePullPolicy": "IfNotPresent",
                                "args": ["--config=/fluent-bit/etc/fluent-bit.conf"],
                                # The S3 key pair is read from a file, not the environment.
                                "env": [{"name": "AWS_SHARED_CREDENTIALS_FILE", "value": "/fluent-bit/s3/credentials"}],
                                "ports": [{"name": "http", "containerPort": 2020, "protocol": "TCP"}],
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "64Mi"},
                                    "limits": {"cpu": "500m", "memory": "256Mi"},
                                },
                                "livenessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 30},
                                "readinessProbe": {
                                    "httpGet": {"path": "/api/v1/health", "port": "http"},
                                    "periodSeconds": 30,
                                },
                                # Root only to read other users' log files; nothing else is allowed.
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"], "add": ["DAC_READ_SEARCH"]},
                                    "appArmorProfile": {"type": "RuntimeDefault"},
                                },
                                "volumeMounts": [
                                    {"name": "config", "mountPath": "/fluent-bit/etc", "readOnly": True},
                                    {"name": "s3", "mountPath": "/fluent-bit/s3", "readOnly": True},
                                    {"name": "varlog", "mountPath": "/var/log", "readOnly": True},
                                    {"name": "journal", "mountPath": "/run/log/journal", "readOnly": True},
                                    {"name": "state", "mountPath": "/var/lib/fluent-bit"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "config", "configMap": {"name": name}},
                            {"name": "s3", "secret": {"secretName": "platform-logs-s3", "defaultMode": 0o400}},
                        ]
                        + [
                            {"name": n, "hostPath": {"path": p, "type": "DirectoryOrCreate"}}
                            for n, p in sorted(host_paths.items())
                        ],
                    },
                },
            },
        },
    ]
