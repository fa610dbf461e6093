"""Read-only checks per layer (etcd, ceph, openbao, kms, gateway) that `verify` runs."""
