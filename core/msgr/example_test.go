package msgr_test

import (
	"context"
	"fmt"

	"github.com/netmodels/netmodels/core/engine"
	"github.com/netmodels/netmodels/core/engine/memengine"
	"github.com/netmodels/netmodels/core/msgr"
	"github.com/netmodels/netmodels/core/msgr/wire"
)

// Message types of this example's little protocol.
const (
	typePing uint16 = 0x7E01
	typePong uint16 = 0x7E02
	typeNote uint16 = 0x7E03
)

// pongServer answers PING on the connection's loop (FastDispatch, which
// must not block) and hands NOTEs to the dispatch goroutine (Dispatch).
// No lock is held while either runs, so both may call back into the
// messenger: SendMessage here.
type pongServer struct {
	accepted chan string
	notes    chan string
}

func (s *pongServer) CanFastDispatch(m *msgr.Message) bool { return m.Type == typePing }
func (s *pongServer) FastDispatch(m *msgr.Message) {
	_ = m.Conn.SendMessage(&msgr.Message{Type: typePong, Tid: m.Tid, Front: m.Front})
}
func (s *pongServer) Dispatch(m *msgr.Message) {
	// m's sections stay valid after Dispatch returns; its throttle
	// capacity is given back then.
	s.notes <- fmt.Sprintf("%s says %q", m.Src, m.Front)
}
func (s *pongServer) HandleAccept(c *msgr.Connection) {
	s.accepted <- fmt.Sprintf("accepted a %s, lossy=%v", c.PeerType(), c.Lossy())
}
func (s *pongServer) HandleConnect(*msgr.Connection)     {}
func (s *pongServer) HandleReset(*msgr.Connection)       {}
func (s *pongServer) HandleRemoteReset(*msgr.Connection) {}
func (s *pongServer) HandleRefused(*msgr.Connection)     {}

// pongClient collects replies. The messenger releases each message's
// throttle capacity when Dispatch returns; its sections stay valid.
type pongClient struct{ pongs chan *msgr.Message }

func (c *pongClient) Dispatch(m *msgr.Message)           { c.pongs <- m }
func (c *pongClient) HandleConnect(*msgr.Connection)     {}
func (c *pongClient) HandleAccept(*msgr.Connection)      {}
func (c *pongClient) HandleReset(*msgr.Connection)       {}
func (c *pongClient) HandleRemoteReset(*msgr.Connection) {}
func (c *pongClient) HandleRefused(*msgr.Connection)     {}

// A server and a client messenger on one engine. The in-memory engine
// opens no sockets, so the example runs anywhere; a program passes a real
// engine instead, e.g. goroutine.New(engine.Config{Workers: 4}) from
// impl-goroutine, and binds a real address. Everything printed comes from
// this goroutine, in an order the messenger guarantees (per-connection
// FIFO among equal priorities), so the output never varies.
func Example() {
	eng := memengine.New(memengine.Options{Config: engine.Config{Workers: 2}})
	defer eng.Shutdown(context.Background())

	// Clients get a lossy, stateless policy whose throttles bound what a
	// client may have received and not yet dispatched: 16 messages, 1 MiB.
	clientPolicy, err := msgr.PolicyByName("stateless_server")
	if err != nil {
		panic(err)
	}
	clientPolicy.ThrottleMessages, clientPolicy.ThrottleBytes = 16, 1<<20
	srv, err := msgr.New(eng, msgr.Config{
		Name:                  "osd.0",
		Nonce:                 1,
		Policy:                "stateful_server", // for other peer types
		PeerPolicies:          map[wire.EntityType]msgr.Policy{wire.EntityClient: clientPolicy},
		DispatchThrottleBytes: 8 << 20, // received, undispatched bytes, all peers together
	})
	if err != nil {
		panic(err)
	}
	server := &pongServer{accepted: make(chan string, 1), notes: make(chan string, 1)}
	if err := srv.Start(server); err != nil {
		panic(err)
	}
	if err := srv.Bind("127.0.0.1:6800"); err != nil {
		panic(err)
	}
	defer srv.Shutdown(context.Background())
	msgs, bytes := srv.Endpoint().PolicyThrottles(wire.EntityClient)
	fmt.Printf("client throttles: %d messages, %d bytes\n", msgs.Max(), bytes.Max())

	cli, err := msgr.New(eng, msgr.Config{Name: "client.7", RandomNonce: true, Policy: "lossy_client"})
	if err != nil {
		panic(err)
	}
	client := &pongClient{pongs: make(chan *msgr.Message, 3)}
	if err := cli.Start(client); err != nil {
		panic(err)
	}
	defer cli.Shutdown(context.Background())

	// ConnectTo returns at once; messages queue until the session opens.
	conn, err := cli.ConnectTo(wire.EntityOSD, srv.ListenAddr().String())
	if err != nil {
		panic(err)
	}
	for tid := uint64(1); tid <= 3; tid++ {
		ping := &msgr.Message{Type: typePing, Tid: tid, Front: []byte(fmt.Sprint("ping ", tid))}
		if err := conn.SendMessage(ping); err != nil { // ErrOutQueueFull at the session's limit
			panic(err)
		}
	}
	_ = conn.SendMessage(&msgr.Message{Type: typeNote, Front: []byte("bye")})

	fmt.Println(<-server.accepted)
	for range 3 {
		m := <-client.pongs
		fmt.Printf("pong tid %d from %s: %q\n", m.Tid, m.Src, m.Front)
	}
	fmt.Println(<-server.notes)
	// Output:
	// client throttles: 16 messages, 1048576 bytes
	// accepted a client, lossy=true
	// pong tid 1 from osd.0: "ping 1"
	// pong tid 2 from osd.0: "ping 2"
	// pong tid 3 from osd.0: "ping 3"
	// client.7 says "bye"
}
