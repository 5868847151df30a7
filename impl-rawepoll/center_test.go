package rawepoll

import (
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netmodels/netmodels/core/engine"
	"golang.org/x/sys/unix"
)

// runCenter runs c's loop on a locked thread, as a worker does, until the
// test ends.
func runCenter(t *testing.T, c *center) {
	t.Helper()
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(done)
		for !stop.Load() {
			c.processEvents()
		}
	}()
	t.Cleanup(func() {
		c.post(func() { stop.Store(true) })
		<-done
		c.leave()
	})
}

// execute is conn.Execute without a connection: ErrExecuteQueueFull at
// the limit, ErrEngineClosed once the loop has left.
func (c *center) execute(fn func()) error { return c.wake(c.q.Execute(fn)) }

func newTestCenter(t *testing.T, limit int) *center {
	t.Helper()
	c, err := newCenter(limit)
	if err != nil {
		t.Fatalf("newCenter: %v", err)
	}
	return c
}

func waitCh(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestTimeEventsOrder: events fire by deadline, ties by creation order,
// whatever order they were scheduled in.
func TestTimeEventsOrder(t *testing.T) {
	c := newTestCenter(t, 16)
	runCenter(t, c)
	var mu sync.Mutex
	var got []int
	done := make(chan struct{})
	delays := []time.Duration{40, 10, 30, 10, 20, 0}
	want := []int{5, 1, 3, 4, 2, 0}
	for i, d := range delays {
		c.afterFunc(d*time.Millisecond, nil, func() {
			mu.Lock()
			got = append(got, i)
			n := len(got)
			mu.Unlock()
			if n == len(delays) {
				close(done)
			}
		})
	}
	waitCh(t, done, "all timers")
	mu.Lock()
	defer mu.Unlock()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fire order %v, want %v", got, want)
		}
	}
}

// TestTimeEventStop: a stopped event never runs, Stop reports it once,
// and a fired event cannot be stopped.
func TestTimeEventStop(t *testing.T) {
	c := newTestCenter(t, 16)
	runCenter(t, c)
	var ran atomic.Int32
	t1 := c.afterFunc(20*time.Millisecond, nil, func() { ran.Add(1) })
	if !t1.Stop() {
		t.Fatal("Stop of a pending event returned false")
	}
	if t1.Stop() {
		t.Fatal("second Stop returned true")
	}
	fired := make(chan struct{})
	t2 := c.afterFunc(0, nil, func() { close(fired) })
	waitCh(t, fired, "zero-delay timer")
	if t2.Stop() {
		t.Fatal("Stop after firing returned true")
	}
	// A later event proves the stopped one's deadline has passed.
	later := make(chan struct{})
	c.afterFunc(40*time.Millisecond, nil, func() { close(later) })
	waitCh(t, later, "later timer")
	if ran.Load() != 0 {
		t.Fatal("stopped timer ran")
	}
}

// TestTimeEventCompaction: re-arming a long timer many times (an idle
// timeout per message) does not keep the stopped ones in the heap.
func TestTimeEventCompaction(t *testing.T) {
	c := newTestCenter(t, 16)
	runCenter(t, c)
	for i := 0; i < 10000; i++ {
		c.afterFunc(time.Hour, nil, func() {}).Stop()
	}
	c.afterFunc(time.Hour, nil, func() {})
	sized := make(chan int, 1)
	if err := c.execute(func() { sized <- c.timers.Len() }); err != nil {
		t.Fatal(err)
	}
	// The merge that saw the last event ran before the function.
	select {
	case n := <-sized:
		if n > 200 {
			t.Fatalf("heap holds %d events for 1 live timer", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("execute did not run")
	}
}

// TestExternalEventsOrderAndBound: functions posted from several
// goroutines run on the loop, each poster's in order; the queue refuses
// at its limit with ErrExecuteQueueFull.
func TestExternalEventsOrderAndBound(t *testing.T) {
	c := newTestCenter(t, 1<<16)
	runCenter(t, c)
	const posters, per = 4, 2000
	var last [posters]int
	var bad atomic.Int32
	var wg sync.WaitGroup
	done := make(chan struct{})
	var total atomic.Int32
	for p := 0; p < posters; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= per; i++ {
				for {
					err := c.execute(func() {
						if last[p] != i-1 {
							bad.Add(1)
						}
						last[p] = i
						if total.Add(1) == posters*per {
							close(done)
						}
					})
					if err == nil {
						break
					}
					if !errors.Is(err, engine.ErrExecuteQueueFull) {
						t.Errorf("execute: %v", err)
						return
					}
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	waitCh(t, done, "all external events")
	if bad.Load() != 0 {
		t.Fatalf("%d functions ran out of order", bad.Load())
	}

	// The bound: a loop that is busy cannot take more than the limit.
	small := newTestCenter(t, 3)
	defer small.closeFDs()
	for i := 0; i < 3; i++ {
		if err := small.execute(func() {}); err != nil {
			t.Fatalf("execute %d: %v", i, err)
		}
	}
	if err := small.execute(func() {}); !errors.Is(err, engine.ErrExecuteQueueFull) {
		t.Fatalf("execute past the limit: %v, want ErrExecuteQueueFull", err)
	}
}

// TestExternalEventsCoalesceWakeups: posts to a loop asleep in
// epoll_wait ring the eventfd once, however many; one turn of the loop
// then runs them all; posts to a loop that is awake ring nothing, and the
// doorbell is armed again once the loop goes idle. The loop is driven by
// hand, so this is exact. The eventfd's counter is the number of rings
// since it was last read (each ring adds 1); the test reads it first.
func TestExternalEventsCoalesceWakeups(t *testing.T) {
	c := newTestCenter(t, 1<<16)
	defer c.leave()
	var ran atomic.Int32
	post := func(n int) {
		for i := 0; i < n; i++ {
			if err := c.execute(func() { ran.Add(1) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	rings := func() uint64 {
		var b [8]byte
		if _, err := unix.Read(c.notify, b[:]); err != nil {
			return 0 // EAGAIN: not rung
		}
		return binary.NativeEndian.Uint64(b[:])
	}
	post(1000) // a new loop counts as asleep
	if r := rings(); r != 1 {
		t.Fatalf("1000 posts to a sleeping loop rang %d times, want 1", r)
	}
	c.processEvents() // queued work: epoll_wait does not block
	if ran.Load() != 1000 {
		t.Fatalf("one turn ran %d of 1000 functions", ran.Load())
	}
	post(10) // the loop has not gone idle since: no ring
	if r := rings(); r != 0 {
		t.Fatalf("posts to an awake loop rang the doorbell %d times", r)
	}
	c.processEvents()
	if ran.Load() != 1010 {
		t.Fatalf("ran %d of 1010", ran.Load())
	}
	if !c.q.Idle() { // what the next turn does before it sleeps
		t.Fatal("queue not idle after running everything")
	}
	post(1)
	if r := rings(); r != 1 {
		t.Fatalf("post to an idle loop: %d rings, want 1", r)
	}
}

// TestFileEvents: read and write callbacks fire for the interest set, and
// stop when it is removed (level-triggered: an unread fd keeps firing
// until then).
func TestFileEvents(t *testing.T) {
	c := newTestCenter(t, 16)
	runCenter(t, c)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])

	var reads, writes atomic.Int32
	readCh := make(chan struct{}, 1)
	writeCh := make(chan struct{}, 1)
	var rfe, wfe *fileEvent
	setup := make(chan struct{})
	c.post(func() {
		rfe = c.createFileEvent(p[0], func() {
			reads.Add(1)
			var b [16]byte
			unix.Read(p[0], b[:])
			select {
			case readCh <- struct{}{}:
			default:
			}
		}, nil)
		wfe = c.createFileEvent(p[1], nil, func() {
			writes.Add(1)
			// One write event is enough: drop the interest.
			_ = c.setInterest(wfe, 0)
			writeCh <- struct{}{}
		})
		_ = c.setInterest(rfe, unix.EPOLLIN)
		_ = c.setInterest(wfe, unix.EPOLLOUT)
		close(setup)
	})
	waitCh(t, setup, "setup")
	waitCh(t, writeCh, "write event")
	unix.Write(p[1], []byte("x"))
	waitCh(t, readCh, "read event")

	// Remove read interest: a new byte must not fire the callback.
	removed := make(chan struct{})
	c.post(func() { _ = c.setInterest(rfe, 0); close(removed) })
	waitCh(t, removed, "interest removal")
	before := reads.Load()
	unix.Write(p[1], []byte("y"))
	fired := make(chan struct{})
	c.afterFunc(50*time.Millisecond, nil, func() { close(fired) })
	waitCh(t, fired, "quiet period")
	if reads.Load() != before {
		t.Fatal("read callback fired without read interest")
	}
	if writes.Load() != 1 {
		t.Fatalf("write callback fired %d times after its interest was dropped", writes.Load())
	}
	// Restore it: level-triggered, the pending byte fires at once.
	c.post(func() { _ = c.setInterest(rfe, unix.EPOLLIN) })
	waitCh(t, readCh, "read event after restoring interest")
	c.post(func() { c.deleteFileEvent(rfe); c.deleteFileEvent(wfe) })
}
