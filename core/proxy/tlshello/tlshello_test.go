package tlshello

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/proxy/tlshello/hellotest"
)

// realHellos are ClientHellos from crypto/tls with several settings, and
// one captured from "openssl s_client -servername openssl.example -alpn
// h2,http/1.1" (OpenSSL 3.0, testdata/openssl-s_client.hello).
func realHellos(t testing.TB) map[string][]byte {
	t.Helper()
	m := map[string][]byte{
		"go sni alpn": hellotest.MustCapture(&tls.Config{ServerName: "a.example", NextProtos: []string{"h2", "http/1.1"}}),
		"go no sni":   hellotest.MustCapture(&tls.Config{InsecureSkipVerify: true}),
		"go tls12":    hellotest.MustCapture(&tls.Config{ServerName: "b.example", MaxVersion: tls.VersionTLS12}),
		"go long sni": hellotest.MustCapture(&tls.Config{ServerName: "x1234567890.y1234567890.z1234567890.example.org"}),
	}
	b, err := os.ReadFile("testdata/openssl-s_client.hello")
	if err != nil {
		t.Fatal(err)
	}
	m["openssl s_client"] = b
	return m
}

// goView is what crypto/tls's server reads from the same bytes: the
// reference the parser is checked against.
func goView(b []byte) (*tls.ClientHelloInfo, bool) {
	var got *tls.ClientHelloInfo
	stop := errors.New("stop")
	srv := tls.Server(&replayConn{r: bytes.NewReader(b)}, &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			got = h
			return nil, stop
		},
	})
	_ = srv.Handshake()
	return got, got != nil
}

// replayConn reads from r and discards writes.
type replayConn struct{ r io.Reader }

func (c *replayConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *replayConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *replayConn) Close() error                     { return nil }
func (c *replayConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *replayConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }

func TestParseRealHellos(t *testing.T) {
	want := map[string]struct {
		sni  string
		alpn []string
		tls3 bool
	}{
		"go sni alpn":      {"a.example", []string{"h2", "http/1.1"}, true},
		"go no sni":        {"", nil, true},
		"go tls12":         {"b.example", nil, false},
		"go long sni":      {"x1234567890.y1234567890.z1234567890.example.org", nil, true},
		"openssl s_client": {"openssl.example", []string{"h2", "http/1.1"}, true},
	}
	for name, b := range realHellos(t) {
		t.Run(name, func(t *testing.T) {
			h, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			w := want[name]
			if h.ServerName != w.sni || !slices.Equal(h.ALPN, w.alpn) || h.HandshakeType != TypeClientHello ||
				h.RecordVersion>>8 != 3 || h.Version != tls.VersionTLS12 || h.Len != len(b) {
				t.Errorf("hello = %+v", h)
			}
			if w.tls3 != slices.Contains(h.SupportedVersions, tls.VersionTLS13) {
				t.Errorf("supported versions %x", h.SupportedVersions)
			}
			ref, ok := goView(b)
			if !ok {
				t.Fatal("crypto/tls did not read the hello")
			}
			if ref.ServerName != h.ServerName || !slices.Equal(ref.SupportedProtos, h.ALPN) ||
				len(h.SupportedVersions) > 0 && !slices.Equal(ref.SupportedVersions, h.SupportedVersions) {
				t.Errorf("crypto/tls reads %q %q %x", ref.ServerName, ref.SupportedProtos, ref.SupportedVersions)
			}
			// Bytes after the hello (the client's next records) do not
			// change it.
			h2, err := Parse(append(slices.Clip(b), 0x17, 3, 3, 0, 1, 0))
			if err != nil || h2.ServerName != h.ServerName || h2.Len != h.Len {
				t.Errorf("with trailing bytes: %+v %v", h2, err)
			}
		})
	}
}

// Every proper prefix of a hello is ErrIncomplete, for Parse and Peek: a
// hello split at any offset is read once it is whole.
func TestParseEverySplit(t *testing.T) {
	for name, b := range realHellos(t) {
		for i := 0; i < len(b); i++ {
			if _, err := Parse(b[:i]); err != ErrIncomplete {
				t.Fatalf("%s: Parse(first %d of %d bytes) = %v, want ErrIncomplete", name, i, len(b), err)
			}
			if _, err := Peek(b[:i]); err != ErrIncomplete {
				t.Fatalf("%s: Peek(first %d bytes) = %v", name, i, err)
			}
		}
		// And fed as a stream of 1-byte writes appended to a buffer.
		var buf []byte
		var got Hello
		var err error = ErrIncomplete
		for i := 0; err == ErrIncomplete; i++ {
			buf = append(buf, b[i])
			got, err = Parse(buf)
		}
		if err != nil || len(buf) != len(b) || got.Len != len(b) {
			t.Fatalf("%s: byte by byte: %v after %d bytes", name, err, len(buf))
		}
	}
}

// ServerName reads a whole hello without allocating: content rules run it
// on every arrival of data.
func TestServerNameNoAlloc(t *testing.T) {
	b := realHellos(t)["openssl s_client"]
	if n := testing.AllocsPerRun(100, func() { _, _ = ServerName(b) }); n != 0 {
		t.Errorf("ServerName allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ALPN(b) }); n != 0 {
		t.Errorf("ALPN allocates %v times", n)
	}
	if list, err := ALPN(b); err != nil || string(list) != "\x02h2\x08http/1.1" {
		t.Errorf("ALPN = %q, %v", list, err)
	}
	if name, err := ServerName(b); err != nil || string(name) != "openssl.example" {
		t.Errorf("ServerName = %q, %v", name, err)
	}
}

// A length field that claims more than is there allocates nothing: only
// bytes received are ever copied.
func TestParseNoAllocOnClaims(t *testing.T) {
	claim := []byte{22, 3, 1, 0x40, 0x00, 1, 0x00, 0x3f, 0xfc, 3, 3}
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(claim) }); n != 0 {
		t.Errorf("Parse of a claiming prefix allocates %v times", n)
	}
	if _, err := Parse(claim); err != ErrIncomplete {
		t.Errorf("err = %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	good := realHellos(t)["go sni alpn"]
	// hello rebuilds a hello around a body (after the random).
	hello := func(afterRandom ...byte) []byte {
		body := append([]byte{3, 3}, make([]byte, 32)...)
		body = append(body, afterRandom...)
		hs := append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
		return append([]byte{22, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
	}
	ext := func(typ uint16, data ...byte) []byte {
		return append([]byte{byte(typ >> 8), byte(typ), byte(len(data) >> 8), byte(len(data))}, data...)
	}
	withExts := func(exts ...[]byte) []byte {
		all := slices.Concat(exts...)
		return hello(append([]byte{0, 0, 2, 0x13, 0x01, 1, 0, byte(len(all) >> 8), byte(len(all))}, all...)...)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"http", []byte("GET / HTTP/1.1\r\n"), ErrNotHandshake},
		{"alert", []byte{21, 3, 3, 0, 2, 2, 40}, ErrNotHandshake},
		{"sslv2 major", []byte{22, 2}, ErrNotHandshake},
		{"record len 0", []byte{22, 3, 1, 0, 0}, ErrMalformed},
		{"record too long", []byte{22, 3, 1, 0x40, 0x01}, ErrMalformed},
		{"record too short for a handshake", []byte{22, 3, 1, 0, 3, 1, 0, 0}, ErrMalformed},
		{"fragmented", []byte{22, 3, 1, 0, 8, 1, 0, 0, 5}, ErrFragmented},
		{"server hello", []byte{22, 3, 3, 0, 4, 2, 0, 0, 0}, ErrNotClientHello},
		{"empty client hello", []byte{22, 3, 3, 0, 4, 1, 0, 0, 0}, ErrMalformed},
		{"no extensions", hello(0, 0, 2, 0x13, 0x01, 1, 0), nil},
		{"session id too long", hello(33), ErrMalformed},
		{"odd suites", hello(0, 0, 3, 1, 2, 3, 1, 0), ErrMalformed},
		{"no compression", hello(0, 0, 2, 0x13, 0x01, 0), ErrMalformed},
		{"extensions overflow", hello(0, 0, 2, 0x13, 0x01, 1, 0, 0, 9, 0), ErrMalformed},
		{"extension overflow", withExts([]byte{0, 0, 0, 9}), ErrMalformed},
		{"duplicate sni", withExts(ext(0, 0, 4, 0, 0, 1, 'a'), ext(0, 0, 4, 0, 0, 1, 'b')), ErrMalformed},
		{"empty sni", withExts(ext(0, 0, 3, 0, 0, 0)), ErrMalformed},
		{"sni list overflow", withExts(ext(0, 0, 9, 0, 0, 1, 'a')), ErrMalformed},
		{"empty alpn name", withExts(ext(16, 0, 1, 0)), ErrMalformed},
		{"odd versions", withExts(ext(43, 3, 3, 4, 3)), ErrMalformed},
		{"unknown extensions ignored", withExts(ext(0xff01, 0), ext(0, 0, 4, 0, 0, 1, 'a')), nil},
		{"good", good, nil},
	} {
		_, err := Parse(tc.b)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzParse: no input panics or reads out of bounds; a result agrees with
// crypto/tls; a complete hello is not changed by trailing bytes;
// ErrIncomplete is only said of prefixes that can still become a hello.
func FuzzParse(f *testing.F) {
	for _, b := range realHellos(f) {
		f.Add(b)
	}
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Parse(b)
		switch {
		case err == ErrIncomplete:
			if len(b) >= 5+MaxRecordLen {
				t.Fatalf("incomplete after %d bytes", len(b))
			}
			return
		case err != nil:
			return
		}
		if list, err := ALPN(b); err != nil || len(list) > 0 != (len(h.ALPN) > 0) {
			t.Fatalf("ALPN = %q, %v; Parse says %q", list, err, h.ALPN)
		}
		if name, err := ServerName(b); err != nil || string(name) != h.ServerName {
			t.Fatalf("ServerName = %q, %v; Parse says %q", name, err, h.ServerName)
		}
		if h.Len > len(b) || len(h.ServerName) > len(b) {
			t.Fatalf("hello larger than its input: %+v", h)
		}
		h2, err := Parse(append(slices.Clip(b), 1, 2, 3))
		if err != nil || h2.ServerName != h.ServerName || !slices.Equal(h2.ALPN, h.ALPN) {
			t.Fatalf("trailing bytes changed the result: %+v %v", h2, err)
		}
		if _, err := Parse(b[:h.Len-1]); err != ErrIncomplete {
			t.Fatalf("a prefix of a hello is %v", err)
		}
		// crypto/tls rejects some hellos this parser accepts (it checks
		// more), but what it accepts must read the same here.
		if ref, ok := goView(b[:h.Len]); ok {
			if ref.ServerName != h.ServerName || !slices.Equal(ref.SupportedProtos, h.ALPN) {
				t.Fatalf("crypto/tls reads %q %q, parser %q %q", ref.ServerName, ref.SupportedProtos, h.ServerName, h.ALPN)
			}
		}
	})
}

func BenchmarkServerName(b *testing.B) {
	h := realHellos(b)["openssl s_client"]
	b.SetBytes(int64(len(h)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ServerName(h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	h := realHellos(b)["openssl s_client"]
	b.SetBytes(int64(len(h)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(h); err != nil {
			b.Fatal(err)
		}
	}
}
