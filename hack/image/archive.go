package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxArchiveBytes bounds what reading an archive may unpack: the gateway
// image is tens of MB, so anything near this is not ours.
const maxArchiveBytes = 1 << 30

// WriteArchive writes idx as an OCI image layout in a tar file at out. The
// layout's index.json holds one entry, idx itself, tagged with tag (the
// org.opencontainers.image.ref.name annotation), which is what
// `skopeo copy oci-archive:FILE` and `crane push FILE` expect of a multi-platform
// image. Entries are in name order with fixed times and owners, so the same
// idx gives the same bytes. out is replaced only once it is complete.
func WriteArchive(out string, idx v1.ImageIndex, tag string, mtime time.Time) error {
	dir, err := os.MkdirTemp("", "rexec-image-layout-")
	if err != nil {
		return fmt.Errorf("make layout directory: %w", err)
	}
	defer os.RemoveAll(dir)
	top := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{
		Add:        idx,
		Descriptor: v1.Descriptor{Annotations: map[string]string{refNameKey: tag}},
	})
	if _, err := layout.Write(dir, top); err != nil {
		return fmt.Errorf("write OCI layout in %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".tmp-")
	if err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tarDir(tmp, dir, mtime); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}

// tarDir writes the files under dir to w, in name order, owned by 0:0 with
// mtime and modes 0644/0755, whatever the disk says.
func tarDir(w io.Writer, dir string, mtime time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		names = append(names, rel)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, name := range names {
		hdr := &tar.Header{Name: name, ModTime: mtime, Format: tar.FormatUSTAR}
		if strings.HasSuffix(name, "/") {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			continue
		}
		if err := tarFile(tw, hdr, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			return err
		}
	}
	return tw.Close()
}

func tarFile(tw *tar.Writer, hdr *tar.Header, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, st.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// Archive is an OCI layout archive unpacked into a temporary directory.
type Archive struct {
	dir   string
	Tag   string            // the ref.name annotation of index.json's entry
	Index v1.ImageIndex     // the multi-platform index index.json points at
	Top   *v1.IndexManifest // index.json itself
}

// Close removes the unpacked layout.
func (a *Archive) Close() error { return os.RemoveAll(a.dir) }

// OpenArchive unpacks the layout archive at p and loads the index in it.
// index.json must hold exactly one entry, an image index, as WriteArchive makes.
func OpenArchive(p string) (*Archive, error) {
	dir, err := os.MkdirTemp("", "rexec-image-read-")
	if err != nil {
		return nil, fmt.Errorf("make directory to unpack %s: %w", p, err)
	}
	a := &Archive{dir: dir}
	if err := unpack(p, dir); err != nil {
		a.Close()
		return nil, fmt.Errorf("unpack %s: %w", p, err)
	}
	if err := a.load(); err != nil {
		a.Close()
		return nil, fmt.Errorf("read OCI layout in %s: %w", p, err)
	}
	return a, nil
}

func (a *Archive) load() error {
	top, err := layout.ImageIndexFromPath(a.dir)
	if err != nil {
		return err
	}
	if a.Top, err = top.IndexManifest(); err != nil {
		return err
	}
	if n := len(a.Top.Manifests); n != 1 {
		return fmt.Errorf("index.json lists %d entries, want 1 (the multi-platform index)", n)
	}
	d := a.Top.Manifests[0]
	if d.MediaType != types.OCIImageIndex {
		return fmt.Errorf("index.json entry is %s, want %s", d.MediaType, types.OCIImageIndex)
	}
	a.Tag = d.Annotations[refNameKey]
	a.Index, err = top.ImageIndex(d.Digest)
	return err
}

// unpack extracts the layout tar at p into dir, accepting only what a layout
// holds: oci-layout, index.json and blobs/, plain files and directories.
func unpack(p, dir string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var total int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("not a tar archive: %w", err)
		}
		name, err := layoutEntryName(hdr.Name)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if total += hdr.Size; total > maxArchiveBytes {
				return fmt.Errorf("more than %d bytes unpacked: not a rexec-gateway image", maxArchiveBytes)
			}
			if err := writeFile(dst, tr); err != nil {
				return err
			}
		default:
			return fmt.Errorf("entry %s: type %q is not a file or directory", hdr.Name, hdr.Typeflag)
		}
	}
}

func layoutEntryName(name string) (string, error) {
	clean := path.Clean(strings.TrimPrefix(name, "./"))
	ok := clean == "oci-layout" || clean == "index.json" || clean == "blobs" || strings.HasPrefix(clean, "blobs/")
	if !ok || strings.Contains(clean, "..") || path.IsAbs(clean) {
		return "", fmt.Errorf("entry %q does not belong in an OCI layout", name)
	}
	return clean, nil
}

func writeFile(dst string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
