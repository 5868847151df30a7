// Package hellotest captures real ClientHellos from crypto/tls for tests
// of code that reads them.
package hellotest

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
)

// Capture runs a crypto/tls client handshake with cfg against a pipe and
// returns the first flight it writes: one record holding its ClientHello.
// No server answers; the handshake is abandoned.
func Capture(cfg *tls.Config) ([]byte, error) {
	cli, srv := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tls.Client(cli, cfg).Handshake() // fails once srv is closed
	}()
	defer func() {
		_ = srv.Close()
		_ = cli.Close()
		<-done
	}()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(srv, hdr); err != nil {
		return nil, fmt.Errorf("hellotest: record header: %w", err)
	}
	n := int(hdr[3])<<8 | int(hdr[4])
	rec := make([]byte, 5+n)
	copy(rec, hdr)
	if _, err := io.ReadFull(srv, rec[5:]); err != nil {
		return nil, fmt.Errorf("hellotest: record body: %w", err)
	}
	return rec, nil
}

// MustCapture is Capture for tests that cannot go on without it.
func MustCapture(cfg *tls.Config) []byte {
	b, err := Capture(cfg)
	if err != nil {
		panic(err)
	}
	return b
}
