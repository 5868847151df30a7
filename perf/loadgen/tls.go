package loadgen

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// TLS versions the TLS load generators speak (flag values).
const (
	TLS13 = "1.3"
	TLS12 = "1.2"
)

// ClientTLS is the client side of every TLS scenario, the same for every
// target:
//   - no resumption: SessionTicketsDisabled and no ClientSessionCache, so
//     every handshake is a full one (the client never offers a ticket or a
//     session ID to resume);
//   - one version (min = max), TLS 1.3 unless asked;
//   - key exchange X25519 only: Go 1.24+ offers X25519MLKEM768 first, which
//     OpenSSL 3.0 (HAProxy 2.6 here) lacks, so a Go server would do the
//     hybrid and HAProxy plain X25519; pinning it makes every server do the
//     same work;
//   - TLS 1.2: ECDHE with AES-128-GCM only (TLS 1.3's suites are not
//     configurable in crypto/tls; the proxy config pins AES-128-GCM there);
//   - the chain is not verified (a self-signed certificate made for the run,
//     perf/tlscert); the server's handshake signature is still checked, as
//     TLS requires.
func ClientTLS(version string) (*tls.Config, error) {
	c := &tls.Config{
		ServerName:             "localhost",
		InsecureSkipVerify:     true,
		SessionTicketsDisabled: true,
		ClientSessionCache:     nil,
		CurvePreferences:       []tls.CurveID{tls.X25519},
	}
	switch version {
	case TLS13, "":
		c.MinVersion, c.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	case TLS12:
		c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	default:
		return nil, fmt.Errorf("TLS version %q: want %s or %s", version, TLS13, TLS12)
	}
	return c, nil
}

// handshakeTimeout bounds one connect + handshake.
const handshakeTimeout = 5 * time.Second

// dialTLS connects to addr and completes a full handshake.
func dialTLS(ctx context.Context, addr string, cfg *tls.Config) (*tls.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	d := net.Dialer{}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	return c, nil
}

// TLSHandshake configures the handshake-rate run: each of Conns loops
// connects, completes a full handshake (ClientTLS: no resumption), closes
// (close_notify, then FIN) and starts over, for Duration. Latency is per
// handshake, connect through the client's Finished.
type TLSHandshake struct {
	Addr     string
	Conns    int
	Version  string
	Warmup   time.Duration
	Duration time.Duration
}

// RunTLSHandshake runs the loops; each measures at least one handshake.
func RunTLSHandshake(ctx context.Context, r TLSHandshake) Result {
	res := Result{Kind: "tls-handshake", Addr: r.Addr, Conns: r.Conns, Mode: "closed"}
	cfg, err := ClientTLS(r.Version)
	if err != nil {
		res.Err = err.Error()
		res.Finish(0, nil)
		return res
	}
	start := time.Now().Add(r.Warmup)
	end := start.Add(r.Duration)
	hs := closedLoops(ctx, &res, r.Conns, start, end, "TLS handshake with "+r.Addr, func() func() (time.Time, error) {
		return func() (time.Time, error) {
			c, err := dialTLS(ctx, r.Addr, cfg)
			done := time.Now()
			if err == nil {
				// Closing is not part of the handshake: a server that
				// already sent its session tickets (unread here) may see a
				// reset instead of the FIN; neither is an error of the
				// handshake.
				_ = c.Close()
			}
			return done, err
		}
	})
	res.Finish(time.Since(start), hs.all)
	return res
}
