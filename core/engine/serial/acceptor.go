package serial

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/netmodels/netmodels/core/clock"
	"github.com/netmodels/netmodels/core/engine"
	"golang.org/x/sys/unix"
)

// AcceptClass says what an accept loop does after accept(2) failed.
type AcceptClass int

const (
	// AcceptSkip: the connection being accepted failed on its way (the
	// peer reset it, or Linux passed up a network error of the new socket:
	// accept(2) says to treat those like EAGAIN and retry). The listener
	// is fine; accept the next one at once.
	AcceptSkip AcceptClass = iota
	// AcceptBackOff: the process or the kernel is out of something
	// (descriptors, buffers, memory), or the error is unknown. Accepting
	// again at once would only spin; wait, then try again. The listener
	// stays open whatever happens: a listener that dies leaves a process
	// that is up and serves nothing.
	AcceptBackOff
	// AcceptStop: the listening socket was closed.
	AcceptStop
)

// ClassifyAcceptError sorts an error of accept(2) (bare errno or wrapped,
// as package net returns it) into what the accept loop does next.
func ClassifyAcceptError(err error) AcceptClass {
	var errno syscall.Errno
	switch {
	case errors.Is(err, net.ErrClosed):
		return AcceptStop
	case !errors.As(err, &errno):
		return AcceptBackOff
	}
	switch errno {
	case syscall.EAGAIN, syscall.EINTR, syscall.ECONNABORTED, syscall.ECONNRESET,
		syscall.EPROTO, syscall.EPERM, syscall.ENOPROTOOPT, syscall.EHOSTDOWN,
		syscall.ENONET, syscall.EHOSTUNREACH, syscall.EOPNOTSUPP, syscall.ENETDOWN,
		syscall.ENETUNREACH, syscall.ETIMEDOUT:
		return AcceptSkip
	case syscall.EBADF, syscall.EINVAL:
		// EINVAL: the socket is no longer listening (shutdown(2) of a
		// closing listener); EBADF: its descriptor is gone.
		return AcceptStop
	}
	return AcceptBackOff
}

// IsResourceError reports whether err is a shortage that passes with time
// (EMFILE, ENFILE, ENOBUFS, ENOMEM): an accepted socket whose hand-over
// failed with one waits and is handed over again, instead of being reset.
func IsResourceError(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// Accept back-off bounds: the first wait after a failure, doubled on each
// failure in a row up to the last (as net/http's Server does).
const (
	AcceptBackOffMin = 5 * time.Millisecond
	AcceptBackOffMax = time.Second
)

// Acceptor runs an accept loop on the caller's goroutine, for engines that
// accept with package net (goroutine, netpoll, gnet). A shortage of
// descriptors or memory never stops it: accept errors back off
// (AcceptBackOffMin doubling to AcceptBackOffMax, reset by a success) and
// the loop goes on, so clients waiting in the backlog are served as soon
// as descriptors free up. A socket accepted but not yet handed over (its
// handler failed with IsResourceError) is held, not reset, and handed over
// again after the same back-off. Only Stop, or the listener's close, ends
// the loop. At most one accepted socket is ever held, so the loop needs
// no queue.
//
// Pause and Resume are engine.Listener's: while paused the loop makes no
// accept call and waits for Resume (or Stop), leaving clients in the
// kernel's backlog. ServeTCP also ends an accept that is blocked when
// Pause comes (a deadline in the past on the listener); a connection that
// accept still returned is held until Resume, so nothing is handed over
// after Pause returns. SetBudget's AcceptBudget is taken once per connection handed over;
// with none left the loop waits as if paused, until Give wakes it.
type Acceptor struct {
	Clock clock.Clock // nil: clock.Real

	once sync.Once
	done chan struct{}

	mu        sync.Mutex
	paused    bool
	budget    *engine.AcceptBudget
	woken     chan struct{} // closed by wake: a waiting loop looks again
	interrupt func(bool)    // ServeTCP: true ends a blocked accept, false undoes it
	cut       bool          // interrupt(true) ran and was not undone yet
}

func (a *Acceptor) init() { a.once.Do(func() { a.done = make(chan struct{}) }) }

// Stop ends the loop's waits; the caller closes the listener too, which
// ends its accept.
func (a *Acceptor) Stop() {
	a.init()
	select {
	case <-a.done:
	default:
		close(a.done)
	}
}

// Pause stops the loop before its next accept (engine.Listener.Pause).
func (a *Acceptor) Pause() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.paused {
		return
	}
	a.paused = true
	if a.interrupt != nil && !a.cut {
		a.interrupt(true)
		a.cut = true
	}
}

// Resume lets a paused loop accept again (engine.Listener.Resume).
func (a *Acceptor) Resume() {
	a.mu.Lock()
	a.paused = false
	a.mu.Unlock()
	a.wake()
}

// SetBudget puts the loop under b (engine.Listener.SetBudget): it takes a
// unit for every connection handed over and waits while none is left.
func (a *Acceptor) SetBudget(b *engine.AcceptBudget) {
	a.mu.Lock()
	a.budget = b
	a.mu.Unlock()
	if b != nil {
		b.OnGive(a.wake)
	}
}

// wake makes a waiting loop check again whether it may accept.
func (a *Acceptor) wake() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.woken != nil {
		close(a.woken)
		a.woken = nil
	}
}

// took records a connection handed over in the budget.
func (a *Acceptor) took() {
	a.mu.Lock()
	b := a.budget
	a.mu.Unlock()
	if b != nil {
		b.Take()
	}
}

// awaitResume returns at once when the loop may accept (not paused, and a
// unit left in its budget), else when Resume or the budget's Give comes;
// false if Stop came first. Before the loop accepts again it undoes an
// interrupt that Pause made (under the lock, so a Pause racing it cuts
// the next accept short again).
func (a *Acceptor) awaitResume() bool {
	for {
		a.mu.Lock()
		if !a.paused && (a.budget == nil || a.budget.Left() > 0) {
			if a.cut {
				a.interrupt(false)
				a.cut = false
			}
			a.mu.Unlock()
			return true
		}
		if a.woken == nil {
			a.woken = make(chan struct{})
		}
		ch := a.woken
		a.mu.Unlock()
		select {
		case <-ch:
		case <-a.done:
			return false
		}
	}
}

// setInterrupt installs how Pause ends a blocked accept; a Pause that
// came first is applied now.
func (a *Acceptor) setInterrupt(f func(bool)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.interrupt = f
	if a.paused && !a.cut {
		f(true)
		a.cut = true
	}
}

// Serve accepts from accept until it reports AcceptStop (or Stop), handing
// every connection to handle. handle owns the connection when it returns
// nil or an error other than IsResourceError's; on a resource error the
// connection stays the loop's, which offers it again after a back-off and
// closes it with closeConn if the loop ends first.
func Serve[C any](a *Acceptor, accept func() (C, error), handle func(C) error, closeConn func(C)) {
	a.init()
	var backoff time.Duration
	wait := func() bool {
		backoff = min(max(2*backoff, AcceptBackOffMin), AcceptBackOffMax)
		return a.sleep(backoff)
	}
	for {
		select {
		case <-a.done:
			return
		default:
		}
		if !a.awaitResume() {
			return
		}
		c, err := accept()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue // Pause cut the accept short: awaitResume waits
			}
			switch ClassifyAcceptError(err) {
			case AcceptStop:
				return
			case AcceptBackOff:
				if !wait() {
					return
				}
			}
			continue
		}
		// An accept that Pause cut short can still return a connection:
		// Go's poller reports a readiness that raced the deadline before
		// the deadline itself. It is held, not handed over, until the loop
		// may accept again (as is one accepted while the budget ran out).
		if !a.awaitResume() {
			closeConn(c)
			return
		}
		for {
			err = handle(c)
			if err == nil || !IsResourceError(err) {
				break
			}
			if !wait() {
				closeConn(c)
				return
			}
		}
		if err == nil {
			backoff = 0
			a.took()
		}
	}
}

// ServeTCP is Serve over a package net listener. Pause ends a blocked
// AcceptTCP with a deadline in the past.
func (a *Acceptor) ServeTCP(ln *net.TCPListener, handle func(*net.TCPConn) error) {
	a.init()
	a.setInterrupt(func(cut bool) {
		var at time.Time // zero: no deadline
		if cut {
			at = time.Unix(1, 0)
		}
		_ = ln.SetDeadline(at) // fails only once ln is closed, which ends the loop anyway
	})
	Serve(a, ln.AcceptTCP, handle, func(tc *net.TCPConn) { _ = tc.Close() })
}

// sleep waits d on the clock; false if Stop came first.
func (a *Acceptor) sleep(d time.Duration) bool {
	clk := a.Clock
	if clk == nil {
		clk = clock.Real
	}
	fired := make(chan struct{})
	stop := clk.AfterFunc(d, func() { close(fired) })
	select {
	case <-fired:
		return true
	case <-a.done:
		stop()
		return false
	}
}

// ListenTCP binds addr as Registry.Listen does (no keep-alive on accepted
// sockets), for an engine that runs its own Acceptor.
func ListenTCP(addr string) (*net.TCPListener, error) {
	ln, err := noKeepAliveListen.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err // already a *net.OpError naming "listen" and addr
	}
	return ln.(*net.TCPListener), nil
}

// CheckSpareFD fails with EMFILE (or ENFILE) when the process cannot open
// one more descriptor right now, by making and closing a dup of tc. An
// engine whose hand-over dups the socket and closes the original whatever
// happens (gnet's Enroll) calls it first, so that a socket accepted at the
// descriptor limit is held by its Acceptor and handed over once a
// descriptor frees up, instead of being closed on the client.
func CheckSpareFD(tc *net.TCPConn) error {
	raw, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var derr error
	if err := raw.Control(func(fd uintptr) {
		var nfd int
		if nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0); derr == nil {
			_ = unix.Close(nfd)
		}
	}); err != nil {
		return err
	}
	if derr != nil {
		return os.NewSyscallError("dup", derr)
	}
	return nil
}
