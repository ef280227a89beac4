// Command rexec-image builds the rexec-gateway OCI image without a container
// daemon: one static gateway binary per platform in, an OCI image layout
// archive (a multi-platform index, one single-layer image per platform) and its
// index digest out, byte for byte the same for the same inputs. It checks what
// it wrote by reading the archive back, and can push it to a registry.
//
// It is its own module so that the plugin's go.mod does not carry
// go-containerregistry. See README.md beside this file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// binaryFlags collects repeated -binary linux/ARCH=PATH flags.
type binaryFlags map[string]string

func (b binaryFlags) String() string { return fmt.Sprint(map[string]string(b)) }

func (b binaryFlags) Set(v string) error {
	key, path, ok := strings.Cut(v, "=")
	if !ok || path == "" {
		return fmt.Errorf("want PLATFORM=PATH, e.g. linux/amd64=_output/image/linux_amd64/rexec-gateway")
	}
	if _, err := platform(key); err != nil {
		return err
	}
	if _, dup := b[key]; dup {
		return fmt.Errorf("%s given twice", key)
	}
	b[key] = path
	return nil
}

type options struct {
	binaries   binaryFlags
	caCerts    string
	caVersion  string
	version    string
	revision   string
	source     string
	created    string
	out        string
	digestFile string
	from       string
	push       string
	platforms  string
	noRun      bool
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0) // -h: the flag set has printed the usage
		}
		fmt.Fprintf(os.Stderr, "rexec-image: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{binaries: binaryFlags{}}
	fs := flag.NewFlagSet("rexec-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(o.binaries, "binary", "PLATFORM=PATH of a static gateway binary, for linux/amd64 and linux/arm64 (repeat)")
	fs.StringVar(&o.caCerts, "ca-certs", "", "PEM CA bundle to ship as /"+caPath+" (required to build)")
	fs.StringVar(&o.caVersion, "ca-certs-version", "", "version of the Debian ca-certificates package the bundle comes from (a label)")
	fs.StringVar(&o.version, "version", "", "image version: the tag in the layout, the version label, and what the gateway's --version prints")
	fs.StringVar(&o.revision, "revision", "", "source commit (label org.opencontainers.image.revision)")
	fs.StringVar(&o.source, "source", defaultSource, "source repository URL (label)")
	fs.StringVar(&o.created, "created", os.Getenv("SOURCE_DATE_EPOCH"), "image creation time, Unix seconds (default $SOURCE_DATE_EPOCH)")
	fs.StringVar(&o.out, "out", "", "OCI layout archive to write (or, with -from, nothing)")
	fs.StringVar(&o.digestFile, "digest-file", "", "file to write the index digest to (default: -out with .tar replaced by .digest)")
	fs.StringVar(&o.from, "from", "", "verify (and push) this existing archive instead of building one")
	fs.StringVar(&o.push, "push", "", "push the verified index to REGISTRY/REPO:TAG, with the credentials docker/podman login stored")
	fs.StringVar(&o.platforms, "platforms", "", "comma-separated platforms the archive must hold (default: those of -binary; with -from, linux/amd64,linux/arm64)")
	fs.BoolVar(&o.noRun, "no-run", false, "do not run the host platform's gateway with --version while verifying")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("unexpected argument %q: every input is a flag (see -h)", fs.Arg(0))
	}
	if (o.from == "") == (o.out == "") {
		return nil, fmt.Errorf("give -out FILE to build an archive, or -from FILE to verify or push an existing one")
	}
	if o.platforms == "" {
		o.platforms = "linux/amd64,linux/arm64"
		if len(o.binaries) > 0 {
			o.platforms = strings.Join(sortedKeys(o.binaries), ",")
		}
	}
	if o.digestFile == "" && o.out != "" {
		o.digestFile = strings.TrimSuffix(o.out, ".tar") + ".digest"
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	archive := o.from
	if archive == "" {
		// Written beside -out and renamed only once verified: a build that
		// fails its checks leaves the previous archive in place.
		archive = o.out + ".unverified"
		defer os.Remove(archive)
		if err := build(o, archive); err != nil {
			return err
		}
	}
	a, err := OpenArchive(archive)
	if err != nil {
		return err
	}
	defer a.Close()
	version := o.version
	if version == "" {
		version = a.Tag
	}
	rep, err := Verify(a, Expect{Version: version, Platforms: strings.Split(o.platforms, ","), RunHost: !o.noRun})
	if err != nil {
		return fmt.Errorf("%s does not hold a valid rexec-gateway image:\n%w", archive, err)
	}
	if o.from == "" {
		if err := os.Rename(archive, o.out); err != nil {
			return fmt.Errorf("write %s: %w", o.out, err)
		}
		archive = o.out
	}
	printReport(stdout, archive, a.Tag, rep)
	if o.digestFile != "" {
		if err := os.WriteFile(o.digestFile, []byte(rep.Digest.String()+"\n"), 0o644); err != nil {
			return fmt.Errorf("write digest: %w", err)
		}
	}
	if o.push != "" {
		return push(context.Background(), stdout, o.push, a.Index, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	}
	return nil
}

func build(o *options, out string) error {
	s := Spec{Version: o.version, Revision: o.revision, Source: o.source, CAVersion: o.caVersion, Binaries: map[string][]byte{}}
	sec, err := strconv.ParseInt(o.created, 10, 64)
	if err != nil {
		return fmt.Errorf("creation time %q: set SOURCE_DATE_EPOCH (or -created) to Unix seconds, e.g. $(git log -1 --format=%%ct)", o.created)
	}
	s.Created = time.Unix(sec, 0).UTC()
	if o.caCerts == "" {
		return fmt.Errorf("-ca-certs FILE is required: `make image` makes the bundle from the Debian ca-certificates package " +
			"(the host's /etc/ssl/certs/ca-certificates.crt may hold local CAs that must not ship)")
	}
	if s.CACerts, err = os.ReadFile(o.caCerts); err != nil {
		return fmt.Errorf("read CA bundle: %w", err)
	}
	for key, path := range o.binaries {
		if s.Binaries[key], err = os.ReadFile(path); err != nil {
			return fmt.Errorf("read gateway binary for %s: %w", key, err)
		}
	}
	idx, err := Build(s)
	if err != nil {
		return err
	}
	return WriteArchive(out, idx, s.Version, s.Created)
}

func printReport(w io.Writer, archive, tag string, rep *Report) {
	size := int64(-1)
	if st, err := os.Stat(archive); err == nil {
		size = st.Size()
	}
	fmt.Fprintf(w, "%s: %d bytes, tag %s\n", archive, size, tag)
	fmt.Fprintf(w, "index %s\n", rep.Digest)
	for _, p := range rep.Platforms {
		ran := "not run on " + runtime.GOOS + "/" + runtime.GOARCH
		if p.Ran != "" {
			ran = "--version: " + p.Ran
		}
		fmt.Fprintf(w, "  %-12s %s layer %d bytes, /%s %d bytes, %s\n", p.Platform, p.Digest, p.LayerBytes, gatewayPath, p.BinBytes, ran)
	}
	fmt.Fprintf(w, "/%s sha256 %s\n", caPath, rep.CASHA256)
}

// push uploads idx (all platforms, under one tag) and checks that the
// registry now serves that very digest under ref.
func push(ctx context.Context, w io.Writer, ref string, idx v1.ImageIndex, opts ...remote.Option) error {
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("push: %q is not REGISTRY/REPO:TAG: %w", ref, err)
	}
	opts = append(opts, remote.WithContext(ctx))
	if err := remote.WriteIndex(r, idx, opts...); err != nil {
		return fmt.Errorf("push %s: %w (log in with `crane auth login` or `docker login` first)", r, err)
	}
	want, err := idx.Digest()
	if err != nil {
		return err
	}
	got, err := remote.Head(r, opts...)
	if err != nil {
		return fmt.Errorf("push %s: read it back: %w", r, err)
	}
	if got.Digest != want {
		return fmt.Errorf("push %s: registry serves %s, pushed %s", r, got.Digest, want)
	}
	fmt.Fprintf(w, "pushed %s@%s\n", r.Context(), want)
	return nil
}
