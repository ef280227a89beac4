// Package source opens recordings wherever they are kept: a local path, or
// an s3:// URL in the object store that the config file's upload section
// describes. Every command that reads recordings (ls, info, grep, export,
// verify, replay) goes through it, so that each accepts both.
//
// A remote recording is read with ranged GETs: its layout comes from the
// index at its end (record.NewIndexedReader), so opening and seeking fetch
// only the frames that are needed, never the whole object.
package source

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-rexec/kubectl-rexec/pkg/config"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/storage"
)

// Suffix ends every recording's name.
const Suffix = ".cast.zst"

var (
	mu         sync.Mutex
	settings   storage.Settings
	configured bool
	store      *storage.Store
	storeErr   error
	opened     bool
	// listed holds what Expand's listings found, by URL, for StatFile.
	listed = map[string]Stat{}
)

// Configure sets how the object store is reached; the root command calls
// it with the config file's upload settings before any command runs.
func Configure(s storage.Settings) {
	mu.Lock()
	defer mu.Unlock()
	settings, configured, store, storeErr, opened = s, true, nil, nil, false
}

// Settings maps the config file's upload section to store settings.
func Settings(u config.Upload) storage.Settings {
	return storage.Settings{Endpoint: u.Endpoint, Region: u.Region, Profile: u.Profile, PathStyle: u.PathStyle}
}

// Store returns the object store client, made on first use.
func Store(ctx context.Context) (*storage.Store, error) {
	mu.Lock()
	defer mu.Unlock()
	if !opened {
		opened = true
		if !configured {
			// Reach the store the config file's upload section names.
			l, err := config.Load()
			if err != nil {
				storeErr = err
				return nil, err
			}
			settings = Settings(l.File.Upload)
		}
		store, storeErr = storage.New(ctx, settings)
	}
	return store, storeErr
}

// IsRemote reports whether loc is an s3:// URL.
func IsRemote(loc string) bool { return storage.IsRemote(loc) }

// File is an opened recording file.
type File interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Stat describes a recording file.
type Stat struct {
	Size    int64
	ModTime time.Time
	IsDir   bool
}

type localFile struct {
	*os.File
	size int64
}

func (f localFile) Size() int64 { return f.size }

// OpenFile opens the recording file at loc for reading.
func OpenFile(loc string) (File, error) {
	if !IsRemote(loc) {
		f, err := os.Open(loc)
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		if fi.IsDir() {
			f.Close()
			return nil, fmt.Errorf("%s: %w: it is a directory", loc, record.ErrNotRecording)
		}
		return localFile{f, fi.Size()}, nil
	}
	u, err := storage.ParseURL(loc)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	st, err := Store(ctx)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", loc, err)
	}
	obj, err := st.Open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("open %s: %s", loc, storage.Explain(err))
	}
	return obj, nil
}

// Open opens the recording at loc and reads its header, as record.Open
// does for a local file.
func Open(loc string) (*record.Reader, error) {
	if !IsRemote(loc) {
		return record.Open(loc)
	}
	return openIndexed(loc)
}

// OpenSummary opens the recording at loc for a listing, which needs its
// header and trailer only: a complete local recording is laid out from
// the index at its end, in one read, rather than walked frame by frame.
func OpenSummary(loc string) (*record.Reader, error) { return openIndexed(loc) }

// openIndexed opens loc with record.NewIndexedReader.
func openIndexed(loc string) (*record.Reader, error) {
	f, err := OpenFile(loc)
	if err != nil {
		if !IsRemote(loc) {
			err = fmt.Errorf("open recording: %w", err)
		}
		return nil, err
	}
	r, err := record.NewIndexedReader(f, f.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", loc, err)
	}
	r.SetCloser(f)
	return r, nil
}

// StatFile describes the file or object at loc.
func StatFile(loc string) (Stat, error) {
	if !IsRemote(loc) {
		fi, err := os.Stat(loc)
		if err != nil {
			return Stat{}, err
		}
		return Stat{Size: fi.Size(), ModTime: fi.ModTime(), IsDir: fi.IsDir()}, nil
	}
	u, err := storage.ParseURL(loc)
	if err != nil {
		return Stat{}, err
	}
	if u.Key == "" || strings.HasSuffix(u.Key, "/") {
		return Stat{IsDir: true}, nil
	}
	mu.Lock()
	fi, ok := listed[loc]
	mu.Unlock()
	if ok {
		return fi, nil
	}
	ctx := context.Background()
	st, err := Store(ctx)
	if err != nil {
		return Stat{}, err
	}
	info, err := st.Stat(ctx, u)
	if err != nil {
		if !strings.HasSuffix(u.Key, Suffix) {
			// Not an object: a prefix, if anything is under it.
			return Stat{IsDir: true}, nil
		}
		if obj, oerr := st.Open(ctx, u); oerr == nil {
			// A live session's segments, with no object yet.
			defer obj.Close()
			return Stat{Size: obj.Size(), ModTime: obj.Info().ModTime}, nil
		}
		return Stat{}, fmt.Errorf("%s: %s", loc, storage.Explain(err))
	}
	return Stat{Size: info.Size, ModTime: info.ModTime}, nil
}

// Expand turns arguments into recording files: a local directory gives
// the recordings directly in it, an s3:// prefix every recording under it
// (live sessions without a final object included), anything else is taken
// as it is. A missing argument is an error; an empty directory is not.
func Expand(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		if IsRemote(a) {
			fs, err := expandRemote(a)
			if err != nil {
				return nil, err
			}
			files = append(files, fs...)
			continue
		}
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, a)
			continue
		}
		des, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		for _, de := range des {
			if !de.IsDir() && strings.HasSuffix(de.Name(), Suffix) {
				files = append(files, filepath.Join(a, de.Name()))
			}
		}
	}
	return files, nil
}

func expandRemote(a string) ([]string, error) {
	u, err := storage.ParseURL(a)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(u.Key, Suffix) {
		return []string{a}, nil
	}
	ctx := context.Background()
	st, err := Store(ctx)
	if err != nil {
		return nil, err
	}
	// List folds a live session's segments into one entry, and heads
	// every object: StatFile answers from what it found.
	objs, err := st.List(ctx, u, Suffix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %s", a, storage.Explain(err))
	}
	files := make([]string, len(objs))
	mu.Lock()
	defer mu.Unlock()
	for i, o := range objs {
		files[i] = o.URL.String()
		listed[files[i]] = Stat{Size: o.Size, ModTime: o.ModTime}
	}
	return files, nil
}
