package main

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const testEpoch = 1700000000 // 2023-11-14T22:13:20Z

// fixture is what every test builds images from: a stand-in gateway for each
// platform (a static Go program that answers --version like the real one)
// and a CA bundle of one freshly made certificate.
type fixture struct {
	dir      string
	binaries map[string]string // platform -> path
	ca       string
}

var (
	fixtureOnce sync.Once
	shared      fixture
	fixtureErr  error
)

const standinMain = `package main

import (
	"fmt"
	"os"
)

var version = "unset"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println("rexec-gateway " + version)
		return
	}
	fmt.Fprintln(os.Stderr, "stand-in gateway: only --version")
	os.Exit(2)
}
`

// getFixture builds the stand-ins once per test binary: go build is the slow
// part, and every test reads them, never writes them.
func getFixture(t *testing.T) fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		shared, fixtureErr = makeFixture()
	})
	if fixtureErr != nil {
		t.Fatalf("build test fixture: %v", fixtureErr)
	}
	return shared
}

func makeFixture() (fixture, error) {
	dir, err := os.MkdirTemp("", "rexec-image-test-")
	if err != nil {
		return fixture{}, err
	}
	f := fixture{dir: dir, binaries: map[string]string{}, ca: filepath.Join(dir, "ca.pem")}
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return f, err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module standin\n\ngo 1.26\n"), 0o644); err != nil {
		return f, err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(standinMain), 0o644); err != nil {
		return f, err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	for _, arch := range []string{"amd64", "arm64"} {
		out := filepath.Join(dir, "linux_"+arch, "rexec-gateway")
		cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", out, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=", "GOWORK=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			return f, fmt.Errorf("go build stand-in gateway for %s: %v\n%s", arch, err, b)
		}
		f.binaries["linux/"+arch] = out
	}
	pemBytes, err := testCA()
	if err != nil {
		return f, err
	}
	return f, os.WriteFile(f.ca, pemBytes, 0o644)
}

func testCA() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rexec-image test CA"},
		NotBefore:             time.Unix(testEpoch, 0),
		NotAfter:              time.Unix(testEpoch, 0).Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// buildArgs are the flags of a good build into out; extra flags override.
func (f fixture) buildArgs(out string, extra ...string) []string {
	args := []string{
		"-binary", "linux/amd64=" + f.binaries["linux/amd64"],
		"-binary", "linux/arm64=" + f.binaries["linux/arm64"],
		"-ca-certs", f.ca,
		"-ca-certs-version", "20230311+deb12u1",
		"-version", "test",
		"-revision", "0123abc",
		"-created", fmt.Sprint(testEpoch),
		"-out", out,
	}
	return append(args, extra...)
}

// buildTest runs the tool as `make image` does and returns the archive path.
func buildTest(t *testing.T, f fixture, extra ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "rexec-gateway_test_oci.tar")
	var stdout bytes.Buffer
	if err := run(f.buildArgs(out, extra...), &stdout, io.Discard); err != nil {
		t.Fatalf("build image: %v", err)
	}
	t.Logf("rexec-image:\n%s", stdout.String())
	return out
}

func open(t *testing.T, p string) *Archive {
	t.Helper()
	a, err := OpenArchive(p)
	if err != nil {
		t.Fatalf("open archive: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// wantEntry is one layer entry as the image must hold it, written out here
// rather than taken from layerEntries so that a change there shows up.
type wantEntry struct {
	name     string
	typeflag byte
	mode     int64
	uid      int
}

var wantLayer = []wantEntry{
	{"etc/", tar.TypeDir, 0o755, 0},
	{"etc/group", tar.TypeReg, 0o644, 0},
	{"etc/passwd", tar.TypeReg, 0o644, 0},
	{"etc/ssl/", tar.TypeDir, 0o755, 0},
	{"etc/ssl/certs/", tar.TypeDir, 0o755, 0},
	{"etc/ssl/certs/ca-certificates.crt", tar.TypeReg, 0o644, 0},
	{"rexec-gateway", tar.TypeReg, 0o755, 65532},
	{"tmp/", tar.TypeDir, 0o1777, 0},
	{"var/", tar.TypeDir, 0o755, 0},
	{"var/lib/", tar.TypeDir, 0o755, 0},
	{"var/lib/rexec-gateway/", tar.TypeDir, 0o700, 65532},
}

func TestImage(t *testing.T) {
	f := getFixture(t)
	out := buildTest(t, f)
	a := open(t, out)

	// index.json: one entry, the multi-platform index, tagged with the version.
	if len(a.Top.Manifests) != 1 || a.Top.Manifests[0].MediaType != types.OCIImageIndex || a.Tag != "test" {
		t.Fatalf("index.json = %+v, want one OCI index tagged test", a.Top.Manifests)
	}
	if err := validate.Index(a.Index); err != nil {
		t.Fatalf("validate.Index: %v", err)
	}
	digest, err := a.Index.Digest()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(strings.TrimSuffix(out, ".tar") + ".digest")
	if err != nil || string(b) != digest.String()+"\n" {
		t.Errorf("digest file = %q (%v), want %s", b, err, digest)
	}

	im, err := a.Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, d := range im.Manifests {
		platforms = append(platforms, d.Platform.String())
		// Readers older than OCI 1.1 (skopeo 1.9) rewrite an index whose
		// image entries carry artifactType, and the digest changes on copy.
		if d.ArtifactType != "" || d.MediaType != types.OCIManifestSchema1 {
			t.Errorf("index entry %s: media type %s, artifactType %q; want an OCI manifest and no artifactType", d.Platform, d.MediaType, d.ArtifactType)
		}
	}
	if want := []string{"linux/amd64", "linux/arm64/v8"}; !reflect.DeepEqual(platforms, want) {
		t.Fatalf("index platforms %v, want %v", platforms, want)
	}
	if im.Annotations["org.opencontainers.image.version"] != "test" {
		t.Errorf("index annotations %v lack the version", im.Annotations)
	}
	ran := false
	for _, d := range im.Manifests {
		t.Run(d.Platform.Architecture, func(t *testing.T) {
			img, err := a.Index.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(img); err != nil {
				t.Fatalf("validate.Image: %v", err)
			}
			checkTestConfig(t, img, f, d.Platform)
			files := checkTestLayer(t, img)
			want, err := os.ReadFile(f.binaries["linux/"+d.Platform.Architecture])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(files["rexec-gateway"], want) {
				t.Errorf("/rexec-gateway is not the %s binary given", d.Platform.Architecture)
			}
			if d.Platform.Architecture == runtime.GOARCH {
				ran = true
				if got := runFromLayer(t, files["rexec-gateway"]); got != "rexec-gateway test\n" {
					t.Errorf("/rexec-gateway --version printed %q, want %q", got, "rexec-gateway test\n")
				}
			}
		})
	}
	if !ran && runtime.GOOS == "linux" {
		t.Errorf("no image for the host architecture %s: the gateway was never run", runtime.GOARCH)
	}

	rep, err := Verify(a, Expect{Version: "test", Platforms: []string{"linux/amd64", "linux/arm64"}, RunHost: true})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Digest != digest {
		t.Errorf("Verify reports %s, index is %s", rep.Digest, digest)
	}
}

func checkTestConfig(t *testing.T, img v1.Image, f fixture, p *v1.Platform) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
		t.Errorf("manifest media types %s / %s / %v, want OCI", m.MediaType, m.Config.MediaType, m.Layers)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != p.Architecture || cfg.Variant != p.Variant {
		t.Errorf("config platform %s/%s/%s, index says %s", cfg.OS, cfg.Architecture, cfg.Variant, p)
	}
	if !cfg.Created.Time.Equal(time.Unix(testEpoch, 0)) {
		t.Errorf("created %s, want %s", cfg.Created, time.Unix(testEpoch, 0).UTC())
	}
	c := cfg.Config
	if !reflect.DeepEqual(c.Entrypoint, []string{"/rexec-gateway"}) || c.Cmd != nil || c.User != "65532:65532" || c.WorkingDir != "/" {
		t.Errorf("entrypoint %q cmd %q user %q workdir %q", c.Entrypoint, c.Cmd, c.User, c.WorkingDir)
	}
	if !reflect.DeepEqual(c.ExposedPorts, map[string]struct{}{"8443/tcp": {}}) {
		t.Errorf("exposed ports %v, want 8443/tcp", c.ExposedPorts)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.source":                 "https://github.com/kubectl-rexec/kubectl-rexec",
		"org.opencontainers.image.version":                "test",
		"org.opencontainers.image.revision":               "0123abc",
		"org.opencontainers.image.licenses":               "Apache-2.0",
		"org.opencontainers.image.title":                  "rexec-gateway",
		"org.opencontainers.image.description":            "kubectl-rexec gateway: records kubectl exec sessions in the cluster",
		"org.opencontainers.image.created":                "2023-11-14T22:13:20Z",
		"io.github.kubectl-rexec.ca-certificates.sha256":  fileSHA256(t, f.ca),
		"io.github.kubectl-rexec.ca-certificates.version": "20230311+deb12u1",
	}
	if !reflect.DeepEqual(c.Labels, wantLabels) {
		t.Errorf("labels\n got %v\nwant %v", c.Labels, wantLabels)
	}
}

// checkTestLayer checks the single layer entry by entry and returns the
// contents of its regular files.
func checkTestLayer(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string][]byte{}
	var i int
	for ; ; i++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(wantLayer) {
			t.Errorf("extra entry %s (mode %04o)", hdr.Name, hdr.Mode)
			continue
		}
		w := wantLayer[i]
		if hdr.Name != w.name || hdr.Typeflag != w.typeflag || hdr.Mode != w.mode || hdr.Uid != w.uid || hdr.Gid != w.uid {
			t.Errorf("entry %d: %s type %q mode %04o owner %d:%d, want %s type %q mode %04o owner %d:%d",
				i, hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, w.name, w.typeflag, w.mode, w.uid, w.uid)
		}
		if !hdr.ModTime.Equal(time.Unix(testEpoch, 0)) {
			t.Errorf("%s mtime %s, want %s", hdr.Name, hdr.ModTime, time.Unix(testEpoch, 0))
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Mode&0o111 != 0 && hdr.Name != "rexec-gateway" {
			t.Errorf("%s is executable: the gateway must be the only program in the image", hdr.Name)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = b
	}
	if i < len(wantLayer) {
		t.Errorf("layer has %d entries, want %d", i, len(wantLayer))
	}
	if !strings.Contains(string(files["etc/passwd"]), "\nnonroot:x:65532:65532:") || !strings.Contains(string(files["etc/group"]), "\nnonroot:x:65532:") {
		t.Errorf("/etc/passwd %q or /etc/group %q lacks nonroot 65532", files["etc/passwd"], files["etc/group"])
	}
	return files
}

// runFromLayer writes the gateway from the layer to disk and runs it with
// --version, returning its standard output.
func runFromLayer(t *testing.T, bin []byte) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "rexec-gateway")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, "--version").Output()
	if err != nil {
		t.Fatalf("run /rexec-gateway --version: %v", err)
	}
	return string(out)
}

// TestReproducible builds the same inputs twice, in different directories,
// and expects the same bytes; and a changed input to change the digest, so
// the comparison can fail.
func TestReproducible(t *testing.T) {
	f := getFixture(t)
	first, second := buildTest(t, f), buildTest(t, f)
	if a, b := fileSHA256(t, first), fileSHA256(t, second); a != b {
		t.Fatalf("same inputs, different archives: %s and %s", a, b)
	}
	d1 := digestOf(t, first)
	if d2 := digestOf(t, second); d1 != d2 {
		t.Fatalf("same inputs, different index digests: %s and %s", d1, d2)
	}
	t.Logf("archive sha256 %s, index %s", fileSHA256(t, first), d1)
	for _, flagSet := range [][]string{{"-created", fmt.Sprint(testEpoch + 1)}, {"-revision", "4567def"}} {
		if d := digestOf(t, buildTest(t, f, flagSet...)); d == d1 {
			t.Errorf("%v did not change the index digest %s", flagSet, d)
		}
	}
}

func digestOf(t *testing.T, archive string) v1.Hash {
	t.Helper()
	d, err := open(t, archive).Index.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPush pushes an archive to an in-process registry and reads the index
// and one platform's image back by tag.
func TestPush(t *testing.T) {
	f := getFixture(t)
	archive := buildTest(t, f)
	want := digestOf(t, archive)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/kubectl-rexec/rexec-gateway:test"

	var stdout bytes.Buffer
	if err := run([]string{"-from", archive, "-push", ref}, &stdout, io.Discard); err != nil {
		t.Fatalf("push: %v", err)
	}
	if !strings.Contains(stdout.String(), "pushed "+strings.TrimSuffix(ref, ":test")+"@"+want.String()) {
		t.Errorf("push output %q does not name the pushed digest %s", stdout.String(), want)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatalf("read pushed index: %v", err)
	}
	if got, _ := idx.Digest(); got != want {
		t.Errorf("registry serves %s under %s, pushed %s", got, ref, want)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("pushed index: %v", err)
	}
	local := open(t, archive)
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "arm64", Variant: "v8"}, {OS: "linux", Architecture: "amd64"}} {
		img, err := remote.Image(r, remote.WithPlatform(p))
		if err != nil {
			t.Fatalf("pull %s: %v", p, err)
		}
		got, _ := img.Digest()
		if wantImg := manifestDigest(t, local.Index, p); got != wantImg {
			t.Errorf("pulled %s image %s, local %s", p, got, wantImg)
		}
	}
}

func manifestDigest(t *testing.T, idx v1.ImageIndex, p v1.Platform) v1.Hash {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.Equals(p) {
			return d.Digest
		}
	}
	t.Fatalf("no %s in the index", p)
	return v1.Hash{}
}

// TestVerifyRejects shows the checks `make image` relies on can fail: a
// wrong version, an extra program, a gateway owned by root.
func TestVerifyRejects(t *testing.T) {
	f := getFixture(t)
	a := open(t, buildTest(t, f))
	_, err := Verify(a, Expect{Version: "other", Platforms: []string{"linux/amd64", "linux/arm64"}, RunHost: true})
	for _, want := range []string{`tags the image "test", want "other"`, `org.opencontainers.image.version is "test", want "other"`, `--version printed "rexec-gateway test", want "rexec-gateway other"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Verify with the wrong version: %v; want %q in it", err, want)
		}
	}
	if _, err := Verify(a, Expect{Version: "test", Platforms: []string{"linux/amd64"}}); err == nil || !strings.Contains(err.Error(), "index has platforms") {
		t.Errorf("Verify expecting amd64 only: %v", err)
	}

	img, err := a.Index.Image(manifestDigest(t, a.Index, v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	layer := func() map[string]*layerFile {
		files, err := readLayer(layers[0])
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	collect := func(files map[string]*layerFile) string {
		var msgs []string
		checkLayer("linux/amd64", files, cfg, "amd64", func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) })
		return strings.Join(msgs, "\n")
	}
	if msgs := collect(layer()); msgs != "" {
		t.Fatalf("the good layer fails: %s", msgs)
	}
	files := layer()
	files["bin/sh"] = &layerFile{hdr: tar.Header{Name: "bin/sh", Typeflag: tar.TypeReg, Mode: 0o755, ModTime: cfg.Created.Time}}
	if msgs := collect(files); !strings.Contains(msgs, "unexpected entry /bin/sh") || !strings.Contains(msgs, "/bin/sh is executable") {
		t.Errorf("an extra program: %q", msgs)
	}
	files = layer()
	files["rexec-gateway"].hdr.Uid = 0
	files["etc/passwd"].hdr.Mode = 0o4755
	if msgs := collect(files); !strings.Contains(msgs, "/rexec-gateway is mode 0755 owner 0:65532") || !strings.Contains(msgs, "/etc/passwd is executable") || !strings.Contains(msgs, "setuid") {
		t.Errorf("a root-owned gateway and a setuid passwd: %q", msgs)
	}
	files = layer()
	files["etc/ssl/certs/ca-certificates.crt"].data = []byte("not a certificate\n")
	if msgs := collect(files); !strings.Contains(msgs, "no PEM certificate") || !strings.Contains(msgs, "label says") {
		t.Errorf("a broken CA bundle: %q", msgs)
	}
}

// TestBadInput: every wrong input gets an error that says what to do, and
// nothing is written (an existing archive is left as it was).
func TestBadInput(t *testing.T) {
	f := getFixture(t)
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("need a dynamically linked program to offer as the gateway: %v", err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"text as binary", []string{"-binary", "linux/amd64=" + text}, "not an ELF executable"},
		{"arm64 as amd64", []string{"-binary", "linux/amd64=" + f.binaries["linux/arm64"]}, "build it with GOARCH=amd64"},
		{"dynamic binary", []string{"-binary", "linux/amd64=" + sh}, "build it with CGO_ENABLED=0"},
		{"missing binary", []string{"-binary", "linux/arm64=" + filepath.Join(dir, "nope")}, "read gateway binary for linux/arm64"},
		{"unknown platform", []string{"-binary", "linux/386=" + text}, "only linux/amd64 and linux/arm64"},
		{"CA not PEM", []string{"-ca-certs", text}, "holds no PEM certificate"},
		{"CA missing", []string{"-ca-certs", filepath.Join(dir, "nope.pem")}, "read CA bundle"},
		{"CA not given", []string{"-ca-certs", ""}, "-ca-certs FILE is required"},
		{"version not a tag", []string{"-version", "v1.0.0+build"}, "cannot be an image tag"},
		{"no time", []string{"-created", ""}, "set SOURCE_DATE_EPOCH"},
		// Built, but fails its checks: the archive must not replace the old one.
		{"fails verification", []string{"-platforms", "linux/amd64"}, "does not hold a valid rexec-gateway image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "image.tar")
			if err := os.WriteFile(out, []byte("previous archive"), 0o644); err != nil {
				t.Fatal(err)
			}
			// A later -binary for the same platform is refused; build the
			// args with the case's flags in place of the good ones.
			args := replaceFlags(f.buildArgs(out), c.args)
			err := run(args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q in it", err, c.want)
			}
			if b, _ := os.ReadFile(out); string(b) != "previous archive" {
				t.Errorf("the failed build replaced %s", out)
			}
			if matches, _ := filepath.Glob(out + ".*"); len(matches) != 0 {
				t.Errorf("left behind %v", matches)
			}
		})
	}
	if err := run([]string{"-version", "x"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "give -out FILE") {
		t.Errorf("no -out nor -from: %v", err)
	}
	if _, err := OpenArchive(text); err == nil || !strings.Contains(err.Error(), "not a tar archive") {
		t.Errorf("open a text file as an archive: %v", err)
	}
	evil := filepath.Join(dir, "evil.tar")
	writeTar(t, evil, "../escape", "x")
	if _, err := OpenArchive(evil); err == nil || !strings.Contains(err.Error(), "does not belong in an OCI layout") {
		t.Errorf("open an archive with ../escape: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(os.TempDir()), "escape")); err == nil {
		t.Errorf("../escape was written")
	}
}

// replaceFlags replaces in args the value of each flag that repl sets. A
// -binary replaces the -binary of the same platform.
func replaceFlags(args, repl []string) []string {
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(repl); i += 2 {
		flagName, val := repl[i], repl[i+1]
		replaced := false
		for j := 0; j+1 < len(out); j += 2 {
			if out[j] != flagName {
				continue
			}
			if flagName == "-binary" {
				p, _, _ := strings.Cut(val, "=")
				if q, _, _ := strings.Cut(out[j+1], "="); q != p {
					continue
				}
			}
			out[j+1], replaced = val, true
		}
		if !replaced {
			out = append(out, flagName, val)
		}
	}
	return out
}

func writeTar(t *testing.T, p, name, content string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
