package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// Expect is what Verify holds an image to beyond its fixed shape.
type Expect struct {
	Version   string   // the tag, the version label, and what `--version` must print
	Platforms []string // exactly these, e.g. linux/amd64 linux/arm64
	// RunHost runs the binary of the host's platform with --version. Off only
	// when the host cannot run it (another OS or architecture).
	RunHost bool
}

// PlatformReport describes one platform's image.
type PlatformReport struct {
	Platform   string
	Digest     v1.Hash // manifest digest
	LayerBytes int64   // compressed
	BinBytes   int64   // /rexec-gateway
	Ran        string  // what --version printed, when it was run
}

// Report is what Verify found.
type Report struct {
	Digest    v1.Hash // the multi-platform index: what a tag points at
	CASHA256  string
	Platforms []PlatformReport
}

// Verify checks the archive's index and every image in it: the OCI structure
// (validate.Index reads and hashes every blob), the platforms, the config, and
// the layer file by file. It returns every problem it found, not just the first.
func Verify(a *Archive, want Expect) (*Report, error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	rep := &Report{}
	if err := validate.Index(a.Index); err != nil {
		return nil, fmt.Errorf("invalid OCI index: %w", err)
	}
	var err error
	if rep.Digest, err = a.Index.Digest(); err != nil {
		return nil, err
	}
	if a.Tag != want.Version {
		fail("index.json tags the image %q, want %q", a.Tag, want.Version)
	}
	im, err := a.Index.IndexManifest()
	if err != nil {
		return nil, err
	}
	if im.MediaType != types.OCIImageIndex {
		fail("index media type %s, want %s", im.MediaType, types.OCIImageIndex)
	}
	checkLabels("index annotation", im.Annotations, want.Version, fail)
	var got []string
	for _, d := range im.Manifests {
		pr, err := verifyImage(a.Index, d, want, fail)
		if err != nil {
			return nil, err
		}
		got = append(got, pr.Platform)
		rep.Platforms = append(rep.Platforms, *pr)
	}
	rep.CASHA256 = im.Annotations[labelCASHA256]
	wantPlatforms := append([]string(nil), want.Platforms...)
	sort.Strings(got)
	sort.Strings(wantPlatforms)
	if !reflect.DeepEqual(got, wantPlatforms) {
		fail("index has platforms %v, want %v", got, wantPlatforms)
	}
	return rep, errors.Join(errs...)
}

func verifyImage(idx v1.ImageIndex, d v1.Descriptor, want Expect, fail func(string, ...any)) (*PlatformReport, error) {
	if d.Platform == nil {
		return nil, fmt.Errorf("index entry %s has no platform", d.Digest)
	}
	key := d.Platform.OS + "/" + d.Platform.Architecture
	pr := &PlatformReport{Platform: key, Digest: d.Digest}
	p, err := platform(key)
	if err != nil {
		return nil, fmt.Errorf("index entry %s: %w", d.Digest, err)
	}
	if !d.Platform.Equals(p) {
		fail("%s: index platform %+v, want %+v", key, *d.Platform, p)
	}
	if d.MediaType != types.OCIManifestSchema1 {
		fail("%s: manifest media type %s, want %s", key, d.MediaType, types.OCIManifestSchema1)
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", key, err)
	}
	checkConfig(key, cfg, p, want.Version, fail)
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("%s: layers: %w", key, err)
	}
	if len(layers) != 1 {
		fail("%s: %d layers, want 1", key, len(layers))
		return pr, nil
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		fail("%s: layer media type %s, want %s", key, mt, types.OCILayer)
	}
	pr.LayerBytes, _ = layers[0].Size()
	files, err := readLayer(layers[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	checkLayer(key, files, cfg, p.Architecture, fail)
	if bin := files[gatewayPath]; bin != nil {
		pr.BinBytes = int64(len(bin.data))
		if want.RunHost && p.Architecture == runtime.GOARCH && runtime.GOOS == "linux" {
			pr.Ran = runVersion(key, bin.data, want.Version, fail)
		}
	}
	return pr, nil
}

func checkConfig(key string, cfg *v1.ConfigFile, p v1.Platform, version string, fail func(string, ...any)) {
	if cfg.OS != p.OS || cfg.Architecture != p.Architecture || cfg.Variant != p.Variant {
		fail("%s: config platform %s/%s/%s", key, cfg.OS, cfg.Architecture, cfg.Variant)
	}
	c := cfg.Config
	if !reflect.DeepEqual(c.Entrypoint, []string{"/" + gatewayPath}) || len(c.Cmd) != 0 {
		fail("%s: entrypoint %q cmd %q, want [/%s] and no cmd", key, c.Entrypoint, c.Cmd, gatewayPath)
	}
	if c.User != gatewayUser {
		fail("%s: user %q, want %q (runAsNonRoot needs a numeric UID)", key, c.User, gatewayUser)
	}
	if c.WorkingDir != "/" {
		fail("%s: working dir %q, want /", key, c.WorkingDir)
	}
	if !reflect.DeepEqual(c.ExposedPorts, map[string]struct{}{gatewayPort: {}}) {
		fail("%s: exposed ports %v, want %s", key, c.ExposedPorts, gatewayPort)
	}
	checkLabels(key+": label", c.Labels, version, fail)
	if got := c.Labels[labelPrefix+"created"]; got != cfg.Created.UTC().Format(time.RFC3339) {
		fail("%s: created label %q but config created %s", key, got, cfg.Created.UTC().Format(time.RFC3339))
	}
	for _, h := range cfg.History {
		if !h.Created.Equal(cfg.Created.Time) {
			fail("%s: history created %s, config created %s", key, h.Created, cfg.Created)
		}
	}
}

func checkLabels(what string, l map[string]string, version string, fail func(string, ...any)) {
	fixed := map[string]string{
		labelPrefix + "version":     version,
		labelPrefix + "licenses":    imageLicense,
		labelPrefix + "title":       imageTitle,
		labelPrefix + "description": imageDesc,
	}
	for k, v := range fixed {
		if l[k] != v {
			fail("%s %s is %q, want %q", what, k, l[k], v)
		}
	}
	for _, k := range []string{"source", "revision", "created"} {
		if l[labelPrefix+k] == "" {
			fail("%s %s%s is missing", what, labelPrefix, k)
		}
	}
	if len(l[labelCASHA256]) != 64 {
		fail("%s %s is %q, want a sha256", what, labelCASHA256, l[labelCASHA256])
	}
}

// layerFile is one tar entry of the layer, with its content.
type layerFile struct {
	hdr  tar.Header
	data []byte
}

// readLayer reads the layer's tar into memory (the gateway image is small),
// by name without the trailing slash of directories.
func readLayer(l v1.Layer) (map[string]*layerFile, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, fmt.Errorf("open layer: %w", err)
	}
	defer rc.Close()
	files := map[string]*layerFile{}
	tr := tar.NewReader(io.LimitReader(rc, maxArchiveBytes))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read layer: %w", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read layer entry %s: %w", hdr.Name, err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("layer holds %s twice", name)
		}
		files[name] = &layerFile{hdr: *hdr, data: data}
	}
}

// checkLayer holds the layer to exactly the entries layerEntries lists, with
// their types, modes and owners, and checks what the gateway relies on in them.
func checkLayer(key string, files map[string]*layerFile, cfg *v1.ConfigFile, arch string, fail func(string, ...any)) {
	wantNames := map[string]bool{}
	for _, e := range layerEntries(nil, nil) {
		wantNames[strings.TrimSuffix(e.name, "/")] = true
	}
	for name, f := range files {
		h := f.hdr
		if !wantNames[name] {
			fail("%s: unexpected entry /%s in the layer", key, name)
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeDir {
			fail("%s: /%s has type %q, want a plain file or directory", key, name, h.Typeflag)
		}
		if h.Typeflag == tar.TypeReg && h.Mode&0o111 != 0 && name != gatewayPath {
			fail("%s: /%s is executable (mode %04o): the gateway must be the only program", key, name, h.Mode)
		}
		if h.Mode&(0o4000|0o2000) != 0 {
			fail("%s: /%s is setuid/setgid (mode %04o)", key, name, h.Mode)
		}
		if !h.ModTime.Equal(cfg.Created.Time) {
			fail("%s: /%s mtime %s, want the image's created time %s", key, name, h.ModTime.UTC(), cfg.Created.UTC())
		}
	}
	for _, e := range layerEntries(nil, nil) {
		name := strings.TrimSuffix(e.name, "/")
		f := files[name]
		if f == nil {
			fail("%s: /%s is missing from the layer", key, name)
			continue
		}
		if f.hdr.Mode != e.mode || f.hdr.Uid != e.uid || f.hdr.Gid != e.uid || (f.hdr.Typeflag == tar.TypeDir) != e.dir {
			fail("%s: /%s is mode %04o owner %d:%d dir=%v, want mode %04o owner %d:%d dir=%v", key, name,
				f.hdr.Mode, f.hdr.Uid, f.hdr.Gid, f.hdr.Typeflag == tar.TypeDir, e.mode, e.uid, e.uid, e.dir)
		}
	}
	if f := files["etc/passwd"]; f != nil && !hasLine(f.data, "nonroot:x:65532:65532:") {
		fail("%s: /etc/passwd has no nonroot:x:65532:65532 entry", key)
	}
	if f := files["etc/group"]; f != nil && !hasLine(f.data, "nonroot:x:65532:") {
		fail("%s: /etc/group has no nonroot:x:65532 entry", key)
	}
	if f := files[caPath]; f != nil {
		if err := checkCABundle(f.data); err != nil {
			fail("%s: /%s: %v", key, caPath, err)
		}
		if got, want := sha256Hex(f.data), cfg.Config.Labels[labelCASHA256]; got != want {
			fail("%s: /%s has sha256 %s, label says %s", key, caPath, got, want)
		}
	}
	if f := files[gatewayPath]; f != nil {
		if err := checkStaticELF(f.data, arch); err != nil {
			fail("%s: /%s: %v", key, gatewayPath, err)
		}
	}
}

func hasLine(b []byte, prefix string) bool {
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

// runVersion runs the gateway from the layer with --version and checks that it
// names the image's version. It returns what the binary printed.
func runVersion(key string, bin []byte, version string, fail func(string, ...any)) string {
	dir, err := os.MkdirTemp("", "rexec-image-run-")
	if err != nil {
		fail("%s: run gateway: %v", key, err)
		return ""
	}
	defer os.RemoveAll(dir)
	exe := filepath.Join(dir, gatewayPath)
	if err := os.WriteFile(exe, bin, 0o700); err != nil {
		fail("%s: run gateway: %v", key, err)
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "--version")
	cmd.Env = []string{} // what a scratch image gives it: nothing
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	got := strings.TrimSpace(string(out))
	if err != nil {
		fail("%s: /%s --version: %v (stderr: %q)", key, gatewayPath, err, stderr.String())
	} else if want := imageTitle + " " + version; got != want {
		fail("%s: /%s --version printed %q, want %q", key, gatewayPath, got, want)
	}
	return got
}
