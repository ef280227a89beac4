package session

import (
	"net/http"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	httpstreamspdy "k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport/spdy"
)

// spdyRoundTripperFor is client-go's spdy.RoundTripperFor with the ping
// period as a parameter (client-go fixes it at 5 s). The upgrade round
// tripper is wrapped by rest.HTTPWrappersForConfig as there, so
// authentication, impersonation, the user agent and config.WrapTransport
// (the watcher) still apply.
func spdyRoundTripperFor(config *rest.Config, ping time.Duration) (http.RoundTripper, spdy.Upgrader, error) {
	if ping <= 0 {
		ping = DefaultPingInterval
	}
	tlsConfig, err := rest.TLSConfigFor(config)
	if err != nil {
		return nil, nil, err
	}
	proxy := http.ProxyFromEnvironment
	if config.Proxy != nil {
		proxy = config.Proxy
	}
	upgradeRoundTripper, err := httpstreamspdy.NewRoundTripperWithConfig(httpstreamspdy.RoundTripperConfig{
		TLS:        tlsConfig,
		Proxier:    proxy,
		PingPeriod: ping,
	})
	if err != nil {
		return nil, nil, err
	}
	wrapper, err := rest.HTTPWrappersForConfig(config, upgradeRoundTripper)
	if err != nil {
		return nil, nil, err
	}
	return wrapper, upgradeRoundTripper, nil
}

// statusWatch notes whether the server sent anything on the exec error
// channel. From v4 on, the server always ends a session with a Status there,
// Success included; client-go treats an empty error stream as success, so a
// cut SPDY connection would otherwise look like exit 0.
type statusWatch struct {
	bytes atomic.Int64
}

func (s *statusWatch) received() bool { return s.bytes.Load() > 0 }

// watchingUpgrader wraps the SPDY upgrader so the error stream can be seen.
type watchingUpgrader struct {
	next   spdy.Upgrader
	status *statusWatch
}

func (u *watchingUpgrader) NewConnection(resp *http.Response) (httpstream.Connection, error) {
	conn, err := u.next.NewConnection(resp)
	if err != nil {
		return nil, err
	}
	return &watchingConn{Connection: conn, status: u.status}, nil
}

type watchingConn struct {
	httpstream.Connection
	status *statusWatch
}

func (c *watchingConn) CreateStream(headers http.Header) (httpstream.Stream, error) {
	s, err := c.Connection.CreateStream(headers)
	if err != nil || headers.Get(corev1.StreamType) != corev1.StreamTypeError {
		return s, err
	}
	return &countingStream{Stream: s, status: c.status}, nil
}

type countingStream struct {
	httpstream.Stream
	status *statusWatch
}

func (s *countingStream) Read(p []byte) (int, error) {
	n, err := s.Stream.Read(p)
	s.status.bytes.Add(int64(n))
	return n, err
}
