package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What the image holds, in one place: the layer writer, the config and the
// verifier all read these, so the image and its checks cannot drift apart.
const (
	gatewayPath = "rexec-gateway"         // /rexec-gateway
	stateDir    = "var/lib/rexec-gateway" // empty, owned by the gateway user
	caPath      = "etc/ssl/certs/ca-certificates.crt"
	nonrootID   = 65532 // distroless's "nonroot": a UID no host account is likely to have
	gatewayUser = "65532:65532"
	gatewayPort = "8443/tcp"

	labelPrefix    = "org.opencontainers.image."
	labelCASHA256  = "io.github.kubectl-rexec.ca-certificates.sha256"
	labelCAVersion = "io.github.kubectl-rexec.ca-certificates.version"
	refNameKey     = "org.opencontainers.image.ref.name"
	imageTitle     = "rexec-gateway"
	imageLicense   = "Apache-2.0"
	imageDesc      = "kubectl-rexec gateway: records kubectl exec sessions in the cluster"
	defaultSource  = "https://github.com/kubectl-rexec/kubectl-rexec"
	passwdFile     = "root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/var/lib/rexec-gateway:/sbin/nologin\n"
	groupFile      = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
	historyComment = "rexec-gateway, built by hack/image"
)

// Spec is everything an image build depends on. The same Spec (and the same
// Go toolchain, which fixes the gzip output) gives the same bytes.
type Spec struct {
	Version   string            // image version label and tag, also what --version prints
	Revision  string            // source commit
	Source    string            // source repository URL
	Created   time.Time         // SOURCE_DATE_EPOCH: every timestamp in the image
	CACerts   []byte            // PEM bundle for /etc/ssl/certs/ca-certificates.crt
	CAVersion string            // Debian ca-certificates version the bundle came from ("" if unknown)
	Binaries  map[string][]byte // "linux/amd64" -> static gateway binary
}

// platform is the OCI platform of a "linux/ARCH" key; arm64 carries the
// variant v8, as registries and runtimes expect.
func platform(key string) (v1.Platform, error) {
	goos, arch, ok := strings.Cut(key, "/")
	if !ok || goos != "linux" || (arch != "amd64" && arch != "arm64") {
		return v1.Platform{}, fmt.Errorf("platform %q: only linux/amd64 and linux/arm64 are built", key)
	}
	p := v1.Platform{OS: goos, Architecture: arch}
	if arch == "arm64" {
		p.Variant = "v8"
	}
	return p, nil
}

// sortedKeys gives the platforms of a map in a fixed order, so the index
// lists them the same way every time.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// labels are the config labels (and index annotations) of the image.
func (s Spec) labels() map[string]string {
	l := map[string]string{
		labelPrefix + "source":      s.Source,
		labelPrefix + "version":     s.Version,
		labelPrefix + "revision":    s.Revision,
		labelPrefix + "licenses":    imageLicense,
		labelPrefix + "title":       imageTitle,
		labelPrefix + "description": imageDesc,
		labelPrefix + "created":     s.Created.UTC().Format(time.RFC3339),
		labelCASHA256:               sha256Hex(s.CACerts),
	}
	if s.CAVersion != "" {
		l[labelCAVersion] = s.CAVersion
	}
	return l
}

func (s Spec) check() error {
	if err := checkTag(s.Version); err != nil {
		return err
	}
	if s.Revision == "" || s.Source == "" {
		return fmt.Errorf("revision and source must be set (they become the image's labels)")
	}
	if s.Created.Unix() < 0 {
		return fmt.Errorf("created time %s is before 1970: set SOURCE_DATE_EPOCH to the last commit's time", s.Created)
	}
	if err := checkCABundle(s.CACerts); err != nil {
		return err
	}
	if len(s.Binaries) == 0 {
		return fmt.Errorf("no gateway binary given: pass -binary linux/amd64=PATH (and linux/arm64=PATH)")
	}
	for key, bin := range s.Binaries {
		p, err := platform(key)
		if err != nil {
			return err
		}
		if err := checkStaticELF(bin, p.Architecture); err != nil {
			return fmt.Errorf("gateway binary for %s: %w", key, err)
		}
	}
	return nil
}

// checkTag refuses a version that cannot be an image tag, since the version is
// the tag in the layout and the usual tag when pushing.
func checkTag(v string) error {
	ok := v != "" && len(v) <= 128 && v[0] != '.' && v[0] != '-'
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("version %q cannot be an image tag: use letters, digits, '_', '.', '-' (at most 128, not starting with '.' or '-')", v)
	}
	return nil
}

// checkCABundle makes sure the bundle is PEM certificates, so a wrong file
// (a directory listing, a DER file, an empty file) is refused at build time
// instead of making every TLS connection of the gateway fail.
func checkCABundle(pem []byte) error {
	if len(pem) == 0 {
		return fmt.Errorf("CA bundle is empty: pass a PEM bundle as -ca-certs")
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return fmt.Errorf("CA bundle holds no PEM certificate: pass a PEM bundle as -ca-certs")
	}
	return nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// layerEntry is one file or directory of the single layer.
type layerEntry struct {
	name string
	mode int64 // permission bits, plus sticky for /tmp
	uid  int
	dir  bool
	data []byte
}

// layerEntries lists the layer's contents in name order (tar order is part of
// the layer digest).
func layerEntries(gateway, caCerts []byte) []layerEntry {
	return []layerEntry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(groupFile)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwdFile)},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: caPath, mode: 0o644, data: caCerts},
		{name: gatewayPath, mode: 0o755, uid: nonrootID, data: gateway},
		// Go's os.TempDir and anything the gateway spools go here when no
		// volume is mounted; sticky and world-writable like any /tmp.
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "var/", mode: 0o755, dir: true},
		{name: "var/lib/", mode: 0o755, dir: true},
		// Recordings may pass through here: 0700 like every recording directory.
		{name: stateDir + "/", mode: 0o700, uid: nonrootID, dir: true},
	}
}

// layerTar writes the layer as an uncompressed tar with fixed times and owners.
func layerTar(entries []layerEntry, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.uid,
			ModTime: mtime,
			Format:  tar.FormatUSTAR,
		}
		if e.dir {
			hdr.Typeflag = tar.TypeDir
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close layer tar: %w", err)
	}
	return buf.Bytes(), nil
}

// gzipBytes compresses with the standard library and no name or time in the
// header, so the output depends on the input and the Go version only.
func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("compress layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress layer: %w", err)
	}
	return buf.Bytes(), nil
}

// buildImage makes the image of one platform.
func buildImage(s Spec, key string) (v1.Image, v1.Platform, error) {
	p, err := platform(key)
	if err != nil {
		return nil, p, err
	}
	raw, err := layerTar(layerEntries(s.Binaries[key], s.CACerts), s.Created)
	if err != nil {
		return nil, p, err
	}
	gz, err := gzipBytes(raw)
	if err != nil {
		return nil, p, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(gz)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, p, fmt.Errorf("layer for %s: %w", key, err)
	}
	created := v1.Time{Time: s.Created}
	cfg := &v1.ConfigFile{
		Architecture: p.Architecture,
		OS:           p.OS,
		Variant:      p.Variant,
		Created:      created,
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint:   []string{"/" + gatewayPath},
			User:         gatewayUser,
			WorkingDir:   "/",
			ExposedPorts: map[string]struct{}{gatewayPort: {}},
			Labels:       s.labels(),
		},
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	base, err = mutate.ConfigFile(base, cfg)
	if err != nil {
		return nil, p, err
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: created, CreatedBy: historyComment},
	})
	if err != nil {
		return nil, p, fmt.Errorf("image for %s: %w", key, err)
	}
	return img, p, nil
}

// plainImage keeps artifactType out of the image's index entry.
// go-containerregistry sets it to the config media type; Docker and BuildKit
// do not, and readers that predate OCI 1.1 (skopeo 1.9, Debian 12's) cannot
// carry it over, so they rewrite the index and its digest changes on copy.
type plainImage struct{ v1.Image }

func (plainImage) ArtifactType() (string, error) { return "", nil }

// Build makes the multi-platform index: one image per binary, annotated like
// the images' labels.
func Build(s Spec) (v1.ImageIndex, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, key := range sortedKeys(s.Binaries) {
		img, p, err := buildImage(s, key)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        plainImage{img},
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	return mutate.Annotations(idx, s.labels()).(v1.ImageIndex), nil
}
