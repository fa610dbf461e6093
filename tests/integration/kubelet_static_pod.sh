# Run on a lab host: the kubelet, containerd and runc built from source, fetched from the mirror
# and checked against its SHA256SUMS, run a static pod whose images come through the CRI from the
# mirror's registry. Everything lives under $d and is removed on exit (processes, mounts, cgroups),
# because the same host goes on serving the platform afterwards.
# Arguments: mirror URL, registry address (host:port), the host's name (its kubelet cgroup root).
set -euo pipefail
url=$1 registry=$2 root=/$3-kubelet-test
d=/var/tmp/sov-kubelet-test
sock=$d/containerd.sock
export PATH=$d/bin:$PATH  # containerd finds its shim, and the shim runc, on PATH
crictl() { command crictl --runtime-endpoint "unix://$sock" "$@"; }

cleanup() {
  set +e
  # (a pid of 0 would signal this whole process group)
  [ "$kubelet_pid" -gt 0 ] && kill "$kubelet_pid" && wait "$kubelet_pid" 2>/dev/null
  crictl rmp -fa >/dev/null 2>&1
  [ "$containerd_pid" -gt 0 ] && kill "$containerd_pid" && wait "$containerd_pid" 2>/dev/null
  pkill -f -- "-address $sock" 2>/dev/null
  grep -o " $d/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  grep -o " /run/sov-kubelet-test[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  for c in /sys/fs/cgroup/*/; do
    [ -d "$c$root" ] && find "$c$root" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$d" /run/sov-kubelet-test
}
kubelet_pid=0 containerd_pid=0
trap cleanup EXIT

rm -rf "$d"
mkdir -p "$d/bin" "$d/certs.d/registry.k8s.io" "$d/manifests"
for pinned in containerd:2.4.2 containerd-shim-runc-v2:2.4.2 runc:1.5.3 kubelet:1.36.3 crictl:1.37.0; do
  name=${pinned%%:*} version=${pinned#*:}
  curl -fsS "$url/binaries/$name/$version/$name" -o "$d/bin/$name"
  (cd "$d/bin" && curl -fsS "$url/binaries/$name/$version/SHA256SUMS" | grep " $name\$" | sha256sum -c --quiet)
done
chmod +x "$d"/bin/*

printf 'server = "https://registry.k8s.io"\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' \
  "$registry" > "$d/certs.d/registry.k8s.io/hosts.toml"
cat > "$d/containerd.toml" <<EOF
version = 3
root = "$d/containerd"
state = "/run/sov-kubelet-test"
[grpc]
  address = "$sock"
[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = "$d/certs.d"
[plugins.'io.containerd.cri.v1.runtime']
  # The lab host lacks CAP_SYS_RESOURCE: it cannot lower a sandbox's OOM score below its own.
  restrict_oom_score_adj = true
EOF
containerd --config "$d/containerd.toml" > "$d/containerd.log" 2>&1 &
containerd_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.2; done

# cgroup v1 has no namespace: every lab host's kubelet needs its own root in the machine's tree.
for c in /sys/fs/cgroup/*/; do
  case $c in */unified/) continue ;; esac
  mkdir -p "$c$root"
  if [ -f "${c}cpuset.cpus" ]; then
    cat "${c}cpuset.cpus" > "$c$root/cpuset.cpus"
    cat "${c}cpuset.mems" > "$c$root/cpuset.mems"
  fi
done
cat > "$d/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: $root
containerRuntimeEndpoint: unix://$sock
staticPodPath: $d/manifests
enableServer: false
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
evictionHard: {memory.available: 100Mi, nodefs.available: 1Gi, imagefs.available: 1Gi}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
cat > "$d/manifests/probe.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: sov-probe, namespace: default}
spec:
  hostNetwork: true
  containers:
    - {name: probe, image: registry.k8s.io/pause:3.10.2}
EOF
kubelet --config "$d/kubelet.yaml" --root-dir "$d/kubelet" > "$d/kubelet.log" 2>&1 &
kubelet_pid=$!

for _ in $(seq 120); do
  running=$(crictl ps --name probe --state Running -q 2>/dev/null || true)
  [ -n "$running" ] && break
  sleep 1
done
if [ -z "$running" ]; then
  echo "no running probe container after 120 s" >&2
  tail -n 30 "$d/kubelet.log" >&2
  tail -n 10 "$d/containerd.log" >&2
  exit 1
fi
pid=$(crictl inspect -o go-template --template '{{.info.pid}}' "$running")
echo "image $(crictl inspect -o go-template --template '{{.status.image.image}}' "$running")"
echo "memory-cgroup $(grep -m1 ':memory:' "/proc/$pid/cgroup" | cut -d: -f3)"
echo "sandboxes $(crictl pods --state Ready -q | wc -l)"
