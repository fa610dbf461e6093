// Command ocibuild assembles a container image from prepared layer tarballs into an OCI image
// layout, and copies images between an OCI layout and a registry. Deterministic: the same
// layers and config give the same digests (no timestamps, no host-dependent fields).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// spec is what the caller decides about the image; everything else is fixed.
type spec struct {
	Layers     []string          `json:"layers"`
	Entrypoint []string          `json:"entrypoint"`
	Cmd        []string          `json:"cmd"`
	Env        []string          `json:"env"`
	User       string            `json:"user"`
	WorkingDir string            `json:"working_dir"`
	Labels     map[string]string `json:"labels"`
	RefName    string            `json:"ref_name"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ocibuild: "+format+"\n", args...)
	os.Exit(1)
}

func build(specPath, out string) {
	raw, err := os.ReadFile(specPath)
	if err != nil {
		fail("%v", err)
	}
	var s spec
	if err := json.Unmarshal(raw, &s); err != nil {
		fail("%s: %v", specPath, err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, path := range s.Layers {
		layer, err := tarball.LayerFromFile(path, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			fail("layer %s: %v", path, err)
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			fail("layer %s: %v", path, err)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		fail("config: %v", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = "amd64", "linux"
	cfg.Created = v1.Time{}
	cfg.History = nil
	cfg.Config.Entrypoint, cfg.Config.Cmd = s.Entrypoint, s.Cmd
	cfg.Config.Env, cfg.Config.User, cfg.Config.WorkingDir = s.Env, s.User, s.WorkingDir
	cfg.Config.Labels = s.Labels
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		fail("config: %v", err)
	}
	if err := os.RemoveAll(out); err != nil {
		fail("%v", err)
	}
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		fail("layout %s: %v", out, err)
	}
	ann := map[string]string{"org.opencontainers.image.ref.name": s.RefName}
	if err := p.AppendImage(img, layout.WithAnnotations(ann)); err != nil {
		fail("layout %s: %v", out, err)
	}
	digest, err := img.Digest()
	if err != nil {
		fail("digest: %v", err)
	}
	fmt.Println(digest.String())
}

func push(dir, ref string) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		fail("layout %s: %v", dir, err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil || len(manifest.Manifests) != 1 {
		fail("layout %s: expected exactly one image", dir)
	}
	img, err := idx.Image(manifest.Manifests[0].Digest)
	if err != nil {
		fail("layout %s: %v", dir, err)
	}
	// The registry is the controller's own, on loopback or the management network: plain HTTP.
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		fail("reference %s: %v", ref, err)
	}
	if err := remote.Write(tag, img, remote.WithTransport(http.DefaultTransport)); err != nil {
		fail("push %s: %v", ref, err)
	}
	fmt.Println(manifest.Manifests[0].Digest.String())
}

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: ocibuild build SPEC.json OUT_LAYOUT_DIR | ocibuild push LAYOUT_DIR HOST:PORT/REPO:TAG")
	}
	flag.Parse()
	args := flag.Args()
	switch {
	case len(args) == 3 && args[0] == "build":
		build(args[1], args[2])
	case len(args) == 3 && args[0] == "push":
		push(args[1], args[2])
	default:
		flag.Usage()
		os.Exit(2)
	}
}
