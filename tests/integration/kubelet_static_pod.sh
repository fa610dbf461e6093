# Run on a lab host the `containerd` and `kube_node` roles prepared: the kubelet built from
# source, standalone, runs a static pod through that containerd, its image pulled through the CRI
# from the mirror's registry (the role's hosts.toml). Everything the kubelet
# made is removed on exit (process, pods, mounts, cgroups), because the same host goes on serving
# the platform afterwards.
# Argument: the host's name (its kubelet cgroup root).
set -euo pipefail
root=/$1-kubelet-test
d=/var/tmp/sov-kubelet-test
sock=/run/containerd/containerd.sock

cleanup() {
  set +e
  # (a pid of 0 would signal this whole process group)
  [ "$kubelet_pid" -gt 0 ] && kill "$kubelet_pid" && wait "$kubelet_pid" 2>/dev/null
  crictl rmp -fa >/dev/null 2>&1
  grep -o " $d/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  for c in /sys/fs/cgroup/*/; do
    [ -d "$c$root" ] && find "$c$root" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$d"
}
kubelet_pid=0
trap cleanup EXIT

rm -rf "$d"
mkdir -p "$d/manifests"

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
  journalctl -u containerd -n 10 --no-pager >&2
  exit 1
fi
pid=$(crictl inspect -o go-template --template '{{.info.pid}}' "$running")
echo "image $(crictl inspect -o go-template --template '{{.status.image.image}}' "$running")"
echo "memory-cgroup $(grep -m1 ':memory:' "/proc/$pid/cgroup" | cut -d: -f3)"
echo "sandboxes $(crictl pods --state Ready -q | wc -l)"
