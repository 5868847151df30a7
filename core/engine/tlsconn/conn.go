package tlsconn

import (
	"container/list"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// Errors; match them with errors.Is.
var (
	// ErrHandshakeTimeout: Options.HandshakeTimeout passed before the
	// handshake ended.
	ErrHandshakeTimeout = errors.New("tlsconn: handshake timeout")
	// ErrNotOpen: Write before the handshake ended (the upper handler gets
	// the Conn only in OnOpen, so this is a bug in the caller).
	ErrNotOpen = errors.New("tlsconn: handshake not complete")
)

// Options tune a TLS connection.
type Options struct {
	// HandshakeTimeout closes a connection whose handshake has not ended
	// after this long (from the start: OnOpen, or Start*). Zero: none.
	// HAProxy uses "timeout client" for its handshake.
	HandshakeTimeout time.Duration
	// Limiter bounds handshake goroutines; nil: a process-wide Limiter of
	// DefaultMaxHandshakes for each role (server, client). Do not share
	// one Limiter between both ends of connections within one process:
	// client handshakes holding every slot would wait for server
	// handshakes that get none (until HandshakeTimeout).
	Limiter *Limiter
	// ReadBufferSize is the most plaintext held unconsumed for the upper
	// handler (its engine.Config.ReadBufferSize): it must consume
	// something once that much is waiting, or the connection is closed
	// with engine.ErrReadBufferFull. Default engine.DefaultReadBufferSize;
	// at least one TLS record's payload (16 KiB).
	ReadBufferSize int
}

// state is where a Conn stands.
type state uint8

const (
	stIdle      state = iota // server: waiting for the first byte
	stQueued                 // waiting for a Limiter slot (raw paused)
	stHandshake              // the handshake goroutine runs
	stOpen                   // records flow on the loop
	stClosing                // failed or closed: waiting for the raw OnClose
	stClosed                 // OnClose delivered
)

// Conn is the plaintext side of a TLS connection: what the upper handler
// receives in OnOpen and every later callback. It implements engine.Conn:
// Write encrypts, CloseWrite sends close_notify then shuts the raw
// connection's write side, the rest passes through. It is not an
// engine.Splicer. Unlike a raw Conn, Write, Writev, CloseWrite, PauseRead
// and ResumeRead must be called on the connection's loop (from its
// callbacks, or through Execute): crypto/tls's record state is the loop's.
type Conn struct {
	raw    engine.Conn
	h      engine.Handler
	tc     *tls.Conn
	tr     transport
	lim    *Limiter
	opts   Options
	client bool

	st       state
	err      error // why the Layer closed the raw connection
	waitElem *list.Element
	// grantPending: a Limiter slot was handed over and granted has not run
	// yet (guarded by the Limiter's mutex).
	grantPending bool
	hsTimer      engine.Timer
	lingerTimer  engine.Timer // failFlush: the close after the alert

	// Read side.
	paused  bool   // the upper handler paused reads
	plain   []byte // decrypted, not consumed: plainBuf[off:end]
	pbuf    []byte // pooled plaintext buffer (nil when empty)
	off     int
	unseen  bool // plain holds bytes the handler has not been offered
	drained bool // the last tls Read wanted more ciphertext, none came since
	tlsEOF  bool // close_notify or a clean EOF at a record boundary
	eofSent bool
	inData  bool // inside deliver (no re-entry)
	again   bool // an event came during deliver: go round again
	kicked  bool // a deliver is queued with Execute

	// Write side.
	owed       []byte // ciphertext the raw out-queue refused
	inWrite    bool   // inside Write (an OnDrained now is delivered later)
	drainOwed  bool   // a late OnDrained is queued
	wclosed    bool   // CloseWrite called
	wcloseOwed bool   // close_notify waits for owed to flush
}

// Server returns the handler to give the engine (Listen) for a server-side
// TLS connection: h sees the plaintext Conn in OnOpen once the handshake
// has succeeded; a connection whose handshake fails gets only OnClose.
func Server(h engine.Handler, cfg *tls.Config, opts Options) engine.Handler {
	return &rawHandler{c: newConn(h, cfg, opts, false)}
}

// Client is Server for the dialing side (give it to Dial).
func Client(h engine.Handler, cfg *tls.Config, opts Options) engine.Handler {
	return &rawHandler{c: newConn(h, cfg, opts, true)}
}

// StartServer puts TLS on a raw connection that is already open (after a
// PROXY header, after connection rules): from now on the raw connection's
// owner forwards its OnData, OnReadEOF, OnDrained and OnClose to the
// returned handler (never OnOpen). Bytes the owner did not consume come
// back in its next OnData, so leftovers after a PROXY header reach TLS.
func StartServer(raw engine.Conn, h engine.Handler, cfg *tls.Config, opts Options) engine.Handler {
	rh := &rawHandler{c: newConn(h, cfg, opts, false)}
	rh.c.start(raw)
	return rh
}

// StartClient is StartServer for the dialing side; the ClientHello goes
// out behind whatever the owner already wrote (a PROXY header).
func StartClient(raw engine.Conn, h engine.Handler, cfg *tls.Config, opts Options) engine.Handler {
	rh := &rawHandler{c: newConn(h, cfg, opts, true)}
	rh.c.start(raw)
	return rh
}

func newConn(h engine.Handler, cfg *tls.Config, opts Options, client bool) *Conn {
	if opts.Limiter == nil {
		opts.Limiter = defaultServerLimiter
		if client {
			opts.Limiter = defaultClientLimiter
		}
	}
	if opts.ReadBufferSize <= 0 {
		opts.ReadBufferSize = engine.DefaultReadBufferSize
	}
	opts.ReadBufferSize = max(opts.ReadBufferSize, 16384)
	c := &Conn{h: h, lim: opts.Limiter, opts: opts, client: client}
	c.tr.init(c)
	if client {
		c.tc = tls.Client(&c.tr, cfg)
	} else {
		c.tc = tls.Server(&c.tr, cfg)
	}
	return c
}

// rawHandler is the engine.Handler of the raw connection.
type rawHandler struct{ c *Conn }

func (r *rawHandler) OnOpen(raw engine.Conn)              { r.c.start(raw) }
func (r *rawHandler) OnData(_ engine.Conn, in []byte) int { return r.c.rawData(in) }
func (r *rawHandler) OnReadEOF(engine.Conn)               { r.c.rawReadEOF() }
func (r *rawHandler) OnDrained(engine.Conn)               { r.c.rawDrained() }
func (r *rawHandler) OnClose(raw engine.Conn, err error) {
	if r.c.raw == nil {
		r.c.raw = raw // a dial that failed: no OnOpen came
	}
	r.c.rawClose(err)
}

// ---- handshake ----

func (c *Conn) start(raw engine.Conn) {
	c.raw = raw
	if d := c.opts.HandshakeTimeout; d > 0 {
		c.hsTimer = raw.AfterFunc(d, func() {
			if c.st < stOpen {
				c.fail(fmt.Errorf("%w (%v) with %v", ErrHandshakeTimeout, d, raw.RemoteAddr()))
			}
		})
	}
	if c.client {
		c.begin()
	}
}

// begin takes a handshake slot or waits for one.
func (c *Conn) begin() {
	if c.lim.acquire(c) {
		c.spawn()
		return
	}
	c.st = stQueued
	c.raw.PauseRead()
}

// granted runs on the loop when a queued connection gets its slot.
func (c *Conn) granted() {
	if !c.lim.grantArrived(c) {
		return
	}
	if c.st != stQueued {
		c.lim.release()
		return
	}
	c.raw.ResumeRead()
	c.spawn()
}

func (c *Conn) spawn() {
	c.st = stHandshake
	go c.handshake()
}

// handshake runs on its own goroutine; it touches only tc and the
// transport (locked) until it hands the result to the loop.
func (c *Conn) handshake() {
	err := c.tc.Handshake()
	if e := c.raw.Execute(func() { c.handshakeDone(err) }); e != nil && !errors.Is(e, engine.ErrClosed) {
		// The loop's Execute queue is full: the result cannot be
		// delivered, so the connection cannot go on.
		_ = c.raw.Close()
	}
	c.lim.release()
}

// resumeAfterFull runs on the loop when the handshake goroutine has read
// a full handshake buffer.
func (c *Conn) resumeAfterFull() {
	if c.st == stHandshake {
		c.raw.ResumeRead()
	}
}

func (c *Conn) handshakeDone(err error) {
	if c.st != stHandshake {
		return
	}
	if c.hsTimer != nil {
		c.hsTimer.Stop()
		c.hsTimer = nil
	}
	if err != nil {
		c.failFlush(fmt.Errorf("tlsconn: handshake with %v: %w", c.raw.RemoteAddr(), err))
		return
	}
	c.tr.mu.Lock()
	c.tr.blocking = false
	wasFull := c.tr.fullWait
	c.tr.fullWait = false
	c.tr.mu.Unlock()
	if wasFull {
		c.raw.ResumeRead()
	}
	c.st = stOpen
	c.h.OnOpen(c)
	// Bytes that came with the last flight (early application data, a
	// close_notify) are in the transport or in crypto/tls already.
	c.deliver()
}

// ---- raw side ----

func (c *Conn) rawData(in []byte) int {
	switch c.st {
	case stIdle:
		c.begin()
		return c.tr.feedOrPause(in)
	case stQueued, stHandshake:
		return c.tr.feedOrPause(in)
	case stOpen:
		if c.inData {
			// Called back from inside our own delivery: an engine that
			// runs callbacks inline (a Write flushed at once, a drained
			// peer resuming this connection) can come here while the
			// plaintext buffer is in use. Keep the bytes for the
			// delivery that follows (bounded like the handshake input),
			// so a full read buffer is never refused.
			n := c.tr.stash(in)
			c.again = true
			return n
		}
		c.tr.in = in
		c.drained = false
		c.deliver()
		rest := c.tr.in
		c.tr.in = nil
		// crypto/tls may not have read in at all (it still held a record,
		// or the handler paused first). Keep what is left in the
		// transport, up to HandshakeBufferSize, so the engine's buffer
		// never sits full with nothing consumed (an engine may close
		// that connection, ErrReadBufferFull).
		n := len(in) - len(rest)
		if len(rest) > 0 && c.st == stOpen {
			n += c.tr.stash(rest)
		}
		return n
	}
	return len(in) // closing: discard
}

// feedOrPause gives handshake bytes to the goroutine; if they do not all
// fit, the raw connection is paused until the goroutine has read them.
func (t *transport) feedOrPause(in []byte) int {
	n := t.feed(in)
	if n < len(in) {
		t.c.raw.PauseRead()
	}
	return n
}

func (c *Conn) rawReadEOF() {
	if c.st == stClosing && c.lingerTimer != nil {
		// failFlush: the peer closed after our alert and FIN.
		_ = c.raw.Close()
		return
	}
	c.tr.setEOF()
	c.drained = false
	switch c.st {
	case stOpen:
		c.deliver() // from inside a delivery: that one goes round again
	case stIdle:
		// Closed before sending a byte: no handshake will start.
		c.fail(errors.New("tlsconn: connection closed before the handshake"))
	}
	// During the handshake the goroutine sees EOF and fails.
}

func (c *Conn) rawDrained() {
	if len(c.owed) > 0 {
		err := c.raw.Write(c.owed)
		if errors.Is(err, engine.ErrOutQueueFull) {
			return // another OnDrained is owed
		}
		if err != nil {
			c.fail(err)
			return
		}
		c.owed = nil
		if c.wcloseOwed {
			c.wcloseOwed = false
			c.sendCloseNotify()
		}
	}
	if c.st != stOpen {
		return
	}
	if c.inWrite || c.inData {
		// Called back from inside our own Write or delivery (an engine
		// that flushes and reports inline): the handler is in the middle of a
		// callback and may not yet have paused the source this OnDrained
		// is meant to resume, so it would be lost. Deliver it after the
		// current callback.
		if !c.drainOwed {
			c.drainOwed = true
			c.raw.AfterFunc(0, c.lateDrained)
		}
		return
	}
	c.h.OnDrained(c)
}

func (c *Conn) lateDrained() {
	c.drainOwed = false
	if c.st == stOpen {
		c.h.OnDrained(c)
	}
}

func (c *Conn) rawClose(err error) {
	if c.st == stClosed {
		return
	}
	c.st = stClosed
	c.tr.close()
	c.lim.forget(c)
	c.lim.cancelGrant(c)
	if c.hsTimer != nil {
		c.hsTimer.Stop()
		c.hsTimer = nil
	}
	if c.lingerTimer != nil {
		c.lingerTimer.Stop()
		c.lingerTimer = nil
	}
	if c.err != nil {
		err = c.err
	}
	c.putPlain()
	c.owed = nil
	c.h.OnClose(c, err)
}

// fail closes the raw connection for err; the upper handler's OnClose
// reports err. Only this connection is affected.
func (c *Conn) fail(err error) {
	if c.st >= stClosing {
		return
	}
	c.st = stClosing
	c.err = err
	_ = c.raw.Close()
}

// AlertLinger bounds how long a connection that failed with a TLS alert
// still queued (failFlush) waits for the peer to close after the alert and
// the FIN, before it is closed anyway.
const AlertLinger = time.Second

// failFlush is fail for an error after which crypto/tls may have written
// an alert (a failed handshake, a bad record): the peer must read that
// alert ("remote error: tls: ..."), as it does from OpenSSL, not just an
// EOF or a reset. A raw Close discards what is queued, so when the alert
// has not reached the kernel yet (an engine that queues writes made on the
// loop, or a full out-queue) the raw side is shut with CloseWrite instead,
// which sends the queue and then a FIN; the raw connection is closed when
// the peer's EOF comes, or after AlertLinger. Bytes read meanwhile are
// discarded. With nothing queued it is fail.
func (c *Conn) failFlush(err error) {
	if c.st >= stClosing {
		return
	}
	if len(c.owed) > 0 && c.raw.Write(c.owed) == nil {
		c.owed = nil
	}
	if c.raw.OutQueued() == 0 || len(c.owed) > 0 {
		c.fail(err)
		return
	}
	c.st = stClosing
	c.err = err
	if c.raw.CloseWrite() != nil {
		_ = c.raw.Close()
		return
	}
	c.lingerTimer = c.raw.AfterFunc(AlertLinger, func() { _ = c.raw.Close() })
}

// ---- records ----

var plainPools sync.Map // size → *sync.Pool of []byte

func getPlain(size int) []byte {
	p, _ := plainPools.LoadOrStore(size, &sync.Pool{New: func() any { b := make([]byte, size); return &b }})
	return *(p.(*sync.Pool).Get().(*[]byte))
}

func (c *Conn) putPlain() {
	if c.pbuf == nil {
		return
	}
	b := c.pbuf
	c.pbuf, c.plain, c.off = nil, nil, 0
	if p, ok := plainPools.Load(len(b)); ok {
		p.(*sync.Pool).Put(&b)
	}
}

// deliver decrypts what crypto/tls can and offers the plaintext to the
// upper handler under the engine contract's OnData rules: after a partial
// consumption the rest is offered again at once; after none, only when
// more plaintext arrives; nothing while paused.
func (c *Conn) deliver() {
	if c.inData {
		// Called back from inside our own delivery (an engine running a
		// callback inline): the running delivery goes round again.
		c.again = true
		return
	}
	c.inData = true
	defer func() { c.inData = false }()
	for {
		c.again = false
		c.deliverOnce()
		if !c.again {
			return
		}
		c.drained = false // new bytes or a resume came meanwhile
	}
}

func (c *Conn) deliverOnce() {
	for c.st == stOpen && !c.paused {
		if c.unseen && len(c.plain) > 0 {
			if !c.offer() {
				return
			}
			continue
		}
		// Nothing to offer: decrypt more, unless crypto/tls is waiting for
		// ciphertext that has not come, the stream ended, or the buffer
		// is full of bytes the handler wants more after.
		if c.drained || c.tlsEOF || len(c.plain) >= c.opts.ReadBufferSize {
			break
		}
		if !c.readRecord() {
			return
		}
	}
	if c.st == stOpen && !c.paused && c.tlsEOF && len(c.plain) == 0 && !c.eofSent {
		c.eofSent = true
		c.h.OnReadEOF(c)
	}
}

// offer calls the handler's OnData with the plaintext; false if the
// connection failed.
func (c *Conn) offer() bool {
	k := c.h.OnData(c, c.plain)
	if err := engine.CheckConsumed(k, len(c.plain)); err != nil {
		c.fail(err)
		return false
	}
	c.plain = c.plain[k:]
	c.off += k
	switch {
	case len(c.plain) == 0:
		c.unseen = false
		c.putPlain()
	case k == 0:
		c.unseen = false // wait for more plaintext
		if len(c.plain) >= c.opts.ReadBufferSize {
			c.fail(fmt.Errorf("tlsconn: %w (%d bytes of plaintext)", engine.ErrReadBufferFull, len(c.plain)))
			return false
		}
	}
	return true
}

// readRecord decrypts into the free end of the plaintext buffer. It
// reports false if the connection failed.
func (c *Conn) readRecord() bool {
	if c.pbuf == nil {
		c.pbuf = getPlain(c.opts.ReadBufferSize)
		c.off = 0
		c.plain = c.pbuf[:0]
	}
	if c.off > 0 {
		// Compact so the free room is at the end.
		n := copy(c.pbuf, c.plain)
		c.off = 0
		c.plain = c.pbuf[:n]
	}
	end := len(c.plain)
	n, err := c.tc.Read(c.pbuf[end:])
	if n > 0 {
		c.plain = c.pbuf[:end+n]
		c.unseen = true
	}
	switch {
	case err == nil:
	case errors.Is(err, errWouldBlock):
		c.drained = true
	case errors.Is(err, io.EOF):
		c.tlsEOF = true
	default:
		c.failFlush(fmt.Errorf("tlsconn: read from %v: %w", c.raw.RemoteAddr(), err))
		return false
	}
	if len(c.plain) == 0 {
		c.putPlain()
	}
	return true
}

// ---- engine.Conn (plaintext side) ----

// LocalAddr is the raw connection's.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr is the raw connection's.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// Write encrypts b. All of b is accepted or none: the ciphertext the raw
// out-queue refuses waits in the Conn and later Writes fail with
// engine.ErrOutQueueFull until OnDrained.
func (c *Conn) Write(b []byte) error {
	if err := c.writable(); err != nil {
		return err
	}
	c.inWrite = true
	_, err := c.tc.Write(b)
	c.inWrite = false
	if err != nil {
		err = fmt.Errorf("tlsconn: write to %v: %w", c.raw.RemoteAddr(), err)
		c.fail(err)
		return err
	}
	return nil
}

// Writev encrypts every slice, as Write.
func (c *Conn) Writev(bufs [][]byte) error {
	if err := c.writable(); err != nil {
		return err
	}
	c.inWrite = true
	defer func() { c.inWrite = false }()
	for _, b := range bufs {
		if _, err := c.tc.Write(b); err != nil {
			err = fmt.Errorf("tlsconn: write to %v: %w", c.raw.RemoteAddr(), err)
			c.fail(err)
			return err
		}
	}
	return nil
}

func (c *Conn) writable() error {
	switch {
	case c.st < stOpen:
		return ErrNotOpen
	case c.st > stOpen || c.wclosed:
		return engine.ErrClosed
	case len(c.owed) > 0:
		return engine.ErrOutQueueFull // the raw Conn owes an OnDrained
	}
	return nil
}

// writeCiphertext is the transport's Write in record mode (on the loop).
func (c *Conn) writeCiphertext(p []byte) (int, error) {
	if len(c.owed) == 0 {
		err := c.raw.Write(p)
		if err == nil {
			return len(p), nil
		}
		if !errors.Is(err, engine.ErrOutQueueFull) {
			return 0, err
		}
	}
	// crypto/tls makes any write error permanent, so a full out-queue is
	// absorbed here, bounded by the one Write in progress.
	c.owed = append(c.owed, p...)
	return len(p), nil
}

// OutQueued counts the raw out-queue and the ciphertext waiting for it.
func (c *Conn) OutQueued() int { return c.raw.OutQueued() + len(c.owed) }

// CloseWrite sends close_notify, then shuts the raw write side after
// everything queued.
func (c *Conn) CloseWrite() error {
	if c.st > stOpen {
		return engine.ErrClosed
	}
	if c.wclosed {
		return nil
	}
	c.wclosed = true
	if len(c.owed) > 0 {
		c.wcloseOwed = true
		return nil
	}
	c.sendCloseNotify()
	return nil
}

func (c *Conn) sendCloseNotify() {
	if c.st == stOpen {
		_ = c.tc.CloseWrite() // an error here leaves only the FIN to send
	}
	if len(c.owed) > 0 {
		c.wcloseOwed = true // close_notify itself was refused: FIN after it
		return
	}
	_ = c.raw.CloseWrite()
}

// Close closes both directions at once (no close_notify: queued bytes are
// discarded anyway, as for a raw Close).
func (c *Conn) Close() error {
	if c.st < stClosing {
		c.st = stClosing
	}
	return c.raw.Close()
}

// PauseRead stops plaintext deliveries and reading from the socket.
func (c *Conn) PauseRead() {
	c.paused = true
	c.raw.PauseRead()
}

// ResumeRead restarts deliveries: plaintext already decrypted first.
func (c *Conn) ResumeRead() {
	if !c.paused {
		return
	}
	c.paused = false
	c.raw.ResumeRead()
	if len(c.plain) > 0 {
		c.unseen = true
	}
	// The raw connection redelivers the ciphertext it holds; what
	// crypto/tls or the plaintext buffer holds needs a turn of its own.
	if c.st == stOpen && (len(c.plain) > 0 || !c.drained || (c.tlsEOF && !c.eofSent)) {
		if c.inData {
			c.again = true
		} else {
			c.kickLater()
		}
	}
}

// kickLater queues a delivery turn on the loop (at most one at a time).
// It is a zero timer rather than Execute: a timer cannot be refused by a
// full Execute queue (which would leave records held by crypto/tls with
// nothing to deliver them).
func (c *Conn) kickLater() {
	if !c.kicked {
		c.raw.AfterFunc(0, c.kick)
		c.kicked = true
	}
}

func (c *Conn) kick() {
	c.kicked = false
	c.deliver()
}

// Execute runs fn on the connection's loop.
func (c *Conn) Execute(fn func()) error { return c.raw.Execute(fn) }

// AfterFunc runs fn on the connection's loop after d.
func (c *Conn) AfterFunc(d time.Duration, fn func()) engine.Timer { return c.raw.AfterFunc(d, fn) }

// State is the TLS connection state (SNI, ALPN, version, peer
// certificates) once the handshake has ended; false before. Call it on the
// loop.
func (c *Conn) State() (tls.ConnectionState, bool) {
	if c.st < stOpen || c.tc == nil {
		return tls.ConnectionState{}, false
	}
	return c.tc.ConnectionState(), true
}

// Raw is the underlying engine connection. Give it, not the Conn, as
// engine.DialOptions.Near: an engine does not know a tlsconn.Conn and
// would ignore it, so the new connection could land on another loop.
func (c *Conn) Raw() engine.Conn { return c.raw }

var _ engine.Conn = (*Conn)(nil)
