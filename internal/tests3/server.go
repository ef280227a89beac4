package tests3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Server is a running versitygw. Its fields are what a client needs.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string

	bin      string
	addr     string // 127.0.0.1:PORT
	root     string // posix backend: one directory per bucket
	versions string // versioning directory
	logPath  string
	awsDir   string // empty AWS config and credentials files

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exits
}

const healthPath = "/health"

// Start starts a versitygw on a free 127.0.0.1 port with a posix backend in a temporary
// directory and a versioning directory (so that buckets can have versioning and Object Lock).
// It returns once the server answers; the test's cleanup stops it, and shows the end of its log
// if the test failed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	s := &Server{
		AccessKey: "rexec" + randHex(t, 6),
		SecretKey: randHex(t, 20),
		Region:    "us-east-1",
		bin:       bin,
		root:      filepath.Join(dir, "root"),
		versions:  filepath.Join(dir, "versions"),
		logPath:   filepath.Join(dir, "versitygw.log"),
		awsDir:    filepath.Join(dir, "aws"),
	}
	for _, d := range []string{s.root, s.versions, s.awsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(s.awsDir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("versitygw log (%s):\n%s", s.logPath, s.LogTail(60))
		}
	})
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		s.addr = freeAddr(t)
		s.Endpoint = "http://" + s.addr
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("versitygw did not start: %v\n%s", err, s.LogTail(40))
	return nil
}

func randHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s starting on %s\n", time.Now().Format(time.RFC3339Nano), s.addr)
	cmd := exec.Command(s.bin,
		"--port", s.addr,
		"--access", s.AccessKey,
		"--secret", s.SecretKey,
		"--region", s.Region,
		"--health", healthPath,
		"posix", "--versioning-dir", s.versions, s.root)
	// The gateway reads much of its configuration from VGW_* and ROOT_* variables: keep the
	// caller's out of it.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VGW_") && !strings.HasPrefix(kv, "ROOT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(time.Minute)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("versitygw exited at start: %s", cmd.ProcessState)
		default:
		}
		resp, err := client.Get(s.Endpoint + healthPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			return fmt.Errorf("versitygw on %s not ready after a minute (last: %v)", s.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server (its data stays, for Restart). Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	if runtime.GOOS == "windows" {
		_ = s.cmd.Process.Kill()
	} else {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Restart starts the server again, on the same port and with the same data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond) // the port may not be free again yet
	}
	t.Fatalf("versitygw did not restart on %s: %v\n%s", s.addr, err, s.LogTail(40))
}

// Env is the environment for a client of this server through the AWS SDK's own chain: the
// credentials, region and AWS_ENDPOINT_URL_S3, with AWS_CONFIG_FILE and
// AWS_SHARED_CREDENTIALS_FILE pointing at empty files and the other AWS variables that could
// redirect the chain emptied, so that the user's ~/.aws never leaks into a test. Append it to
// os.Environ() (later entries win).
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_SESSION_TOKEN=",
		"AWS_REGION=" + s.Region,
		"AWS_DEFAULT_REGION=" + s.Region,
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_ENDPOINT_URL=",
		"AWS_PROFILE=",
		"AWS_DEFAULT_PROFILE=",
		"AWS_CONFIG_FILE=" + filepath.Join(s.awsDir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(s.awsDir, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// SetEnv sets Env in this process for the rest of the test (t.Setenv: not with t.Parallel).
func (s *Server) SetEnv(t testing.TB) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Client returns an S3 client for this server with its root credentials and path-style
// addressing, independent of the environment.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// CreateBucket creates a bucket; with objectLock it has Object Lock enabled (and so versioning).
func (s *Server) CreateBucket(t testing.TB, name string, objectLock bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if objectLock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := s.Client().CreateBucket(ctx, in); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// EnableVersioning turns versioning on for a bucket created without Object Lock.
func (s *Server) EnableVersioning(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(name),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		t.Fatalf("enable versioning on %s: %v", name, err)
	}
}

// LogPath is the server's log file.
func (s *Server) LogPath() string { return s.logPath }

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
