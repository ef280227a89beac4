package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Settings select the object store. Empty fields fall back to the AWS SDK's own configuration
// chain (environment, shared config and credentials files, profile), exactly as the aws CLI
// would use them.
type Settings struct {
	// Endpoint is the S3 endpoint URL, e.g. "https://minio.example.com:9000". "" means the SDK
	// chain: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, endpoint_url in the shared config, and AWS S3
	// itself when none is set.
	Endpoint string
	// Region is the signing region. "" means the SDK chain (AWS_REGION, the profile's region);
	// if that is empty too, "us-east-1" (S3-compatible servers do not care).
	Region string
	// Profile is the shared config profile; "" means AWS_PROFILE, else "default".
	Profile string
	// PathStyle selects path-style addressing (http://host/bucket/key), which most self-hosted
	// servers need. IP-address endpoints always use it.
	PathStyle bool
}

// Timeouts and retries. A dead endpoint fails within seconds: a refused connection is tried three
// times, at most 2 s apart (about 4 s in all: a server being restarted gets that long), and a
// host that does not answer at all fails after one 5 s dial timeout, which is not retried.
const (
	maxAttempts           = 3
	maxBackoff            = 2 * time.Second
	dialTimeout           = 5 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 30 * time.Second // counted from the end of the request body
	maxIdleConnsPerHost   = 32
)

// DefaultRegion is the region used when neither Settings nor the SDK chain name one.
const DefaultRegion = "us-east-1"

// Store is a client for one S3-compatible object store. It is safe for concurrent use.
type Store struct {
	client   *s3.Client
	tm       *transfermanager.Client
	endpoint string // for messages: the endpoint URL, or "AWS S3 (region)"
	region   string

	// badChecksum, when set (by in-package tests only), replaces the checksum Put and PutBytes
	// send, so that a test can prove the server verifies it.
	badChecksum func(string) string
}

// hostOnlyEndpoint reports whether the endpoint is an IP address or
// localhost, where BUCKET.host (virtual-hosted addressing) cannot resolve:
// such endpoints get path-style addressing without being asked.
func hostOnlyEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || net.ParseIP(h) != nil
}

// New builds a Store from the SDK's configuration chain and s. It does not contact the server.
func New(ctx context.Context, s Settings) (*Store, error) {
	if s.Endpoint != "" && !strings.HasPrefix(s.Endpoint, "http://") && !strings.HasPrefix(s.Endpoint, "https://") {
		return nil, fmt.Errorf("S3 endpoint %q: must be a URL starting with https:// or http://", s.Endpoint)
	}
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = dialTimeout
			d.KeepAlive = 30 * time.Second
		}).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = tlsHandshakeTimeout
			tr.ResponseHeaderTimeout = responseHeaderTimeout
			tr.MaxIdleConnsPerHost = maxIdleConnsPerHost
		})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer {
			r := retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				// No client-side retry quota: a long upload run must not start failing with
				// "retry quota exceeded" after a burst of transient errors.
				o.RateLimiter = ratelimit.None
				o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(noDialTimeoutRetry)}, o.Retryables...)
			})
			return retry.AddWithMaxBackoffDelay(r, maxBackoff)
		}),
	}
	if s.Region != "" {
		opts = append(opts, config.WithRegion(s.Region))
	}
	if s.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(s.Profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, &opError{op: "load AWS configuration", endpoint: s.Endpoint, err: err}
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
		o.UsePathStyle = s.PathStyle || (o.BaseEndpoint != nil && hostOnlyEndpoint(*o.BaseEndpoint))
		// Ranged GETs cannot be checked against a whole-object checksum; the recording's own
		// hash chain covers what is read. Stat asks for checksums explicitly.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	st := &Store{client: client, region: cfg.Region}
	if ep := client.Options().BaseEndpoint; ep != nil && *ep != "" {
		st.endpoint = *ep
	} else {
		st.endpoint = fmt.Sprintf("AWS S3 (region %s)", cfg.Region)
	}
	st.tm = transfermanager.New(client, func(o *transfermanager.Options) {
		o.FailTimeout = 30 * time.Second // abort the multipart upload even if ctx is done
	})
	return st, nil
}

// Endpoint describes where the store is: its endpoint URL, or "AWS S3 (region R)".
func (s *Store) Endpoint() string { return s.endpoint }

// Region is the signing region in use.
func (s *Store) Region() string { return s.region }

// Client returns the underlying S3 client, for operations this package does not wrap.
func (s *Store) Client() *s3.Client { return s.client }

// noDialTimeoutRetry stops retries of a connection attempt that timed out: the host does not
// answer, and two more 5 s waits would not change that.
func noDialTimeoutRetry(err error) aws.Ternary {
	if isDialTimeout(err) {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
}

func isDialTimeout(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial" && oe.Timeout()
}

func (s *Store) wrap(op string, u URL, err error) error {
	if err == nil {
		return nil
	}
	return &opError{op: op, url: u, endpoint: s.endpoint, err: err, exists: op == "upload" && keyTaken(err)}
}
