package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/proxy"
	"github.com/netmodels/netmodels/core/proxy/config"
)

const exampleCfg = `
global
    maxconn 100

defaults
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s

frontend fe
    bind 127.0.0.1:8000
    default_backend app

backend app
    server s1 127.0.0.1:9000
`

// greeter is the backend server: it answers each read with a greeting and
// closes its side once the client has closed its own.
type greeter struct{ engine.BaseHandler }

func (greeter) OnData(c engine.Conn, in []byte) int {
	if err := c.Write(append([]byte("hello, "), in...)); err != nil {
		return 0 // out-queue full: the same bytes come back with the next OnData
	}
	return len(in)
}

func (greeter) OnReadEOF(c engine.Conn) { _ = c.CloseWrite() }

// client collects the answer and prints it at EOF.
type client struct {
	engine.BaseHandler
	got bytes.Buffer
}

func (h *client) OnData(c engine.Conn, in []byte) int { h.got.Write(in); return len(in) }
func (h *client) OnReadEOF(c engine.Conn) {
	fmt.Printf("client read %q, then EOF\n", h.got.String())
	_ = c.Close()
}

// Embed the proxy from a configuration text. A program passes a real engine
// built with the configuration's buffer sizes, for example
// goroutine.New(proxy.EngineConfig(cfg)) from impl-goroutine, and
// Options.Clock stays nil (the wall clock). Here the in-memory engine with a
// fake clock stands in for the network, so the example needs no sockets and
// its output never varies: nothing runs between two Settle calls.
func Example() {
	cfg, err := config.Parse([]config.File{{Name: "example.cfg", Data: []byte(exampleCfg)}}, config.Options{})
	if err != nil {
		panic(err)
	}
	clk := memengine.NewFakeClock(time.Time{})
	eng := memengine.New(memengine.Options{Config: proxy.EngineConfig(cfg), Clock: clk})
	defer eng.Shutdown(context.Background())

	// The backend server, on the address the configuration names.
	if _, err := eng.Listen("127.0.0.1:9000", func(engine.Conn) engine.Handler { return greeter{} }); err != nil {
		panic(err)
	}

	p, err := proxy.New(cfg, proxy.Options{Engine: eng, Clock: clk})
	if err != nil {
		panic(err)
	}
	if err := p.Start(); err != nil {
		panic(err)
	}
	fmt.Println("proxy listening on", p.Addrs()[0])

	c, err := eng.Dial("127.0.0.1:8000", &client{}, engine.DialOptions{})
	if err != nil {
		panic(err)
	}
	_ = c.Write([]byte("world"))
	_ = c.CloseWrite() // the proxy passes the half-close on to the server
	eng.Settle()
	// Both directions are shut; the session ends once both out-queues are
	// empty, which it checks on a short timer: move the fake time on.
	clk.Advance(time.Second)

	fe, _ := p.FrontendStats("fe")
	s1, up, _ := p.ServerStats("app", "s1")
	fmt.Printf("frontend fe: %d session(s), %d bytes in, %d bytes out\n", fe.Stot, fe.Bin, fe.Bout)
	fmt.Printf("server app/s1: %d session(s), up=%v\n", s1.Stot, up)

	fmt.Println("sessions left:", p.Sessions())
	p.SoftStop() // stop accepting; Done closes when the last session ends
	eng.Settle()
	select {
	case <-p.Done():
		fmt.Println("proxy stopped")
	default:
		fmt.Println("proxy still has sessions")
	}
	// Output:
	// proxy listening on 127.0.0.1:8000
	// client read "hello, world", then EOF
	// frontend fe: 1 session(s), 5 bytes in, 12 bytes out
	// server app/s1: 1 session(s), up=true
	// sessions left: 0
	// proxy stopped
}
