package rawepoll

import "github.com/netmodels/netmodels/core/engine"

// External events: functions and connection ops posted from any goroutine
// (or from the loop itself, to run after the current callback). Ceph's
// dispatch_event_external appends to a deque under a lock and rings the
// notify pipe; here the function queue is bounded by
// Config.ExecuteQueueLimit, and connection ops are per-connection bits
// (flush, close, deliver, ...), so that list holds each connection at most
// once and is bounded by the number of connections.

// execute queues fn for the loop. It fails with ErrExecuteQueueFull at the
// limit and with ErrEngineClosed once the loop has exited.
func (c *center) execute(fn func()) error {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return engine.ErrEngineClosed
	}
	if len(c.tasks) >= c.taskLimit {
		c.mu.Unlock()
		return engine.ErrExecuteQueueFull
	}
	c.tasks = append(c.tasks, fn)
	c.queued.Store(true)
	c.mu.Unlock()
	c.wakeup()
	return nil
}

// postOp sets op on cn and queues cn once. It reports false when the loop
// has exited (the engine is shut down and cn was closed with it).
func (c *center) postOp(cn *conn, op uint8) bool {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return false
	}
	first := cn.ops == 0
	cn.ops |= op
	if first {
		c.opConns = append(c.opConns, cn)
	}
	c.queued.Store(true)
	c.mu.Unlock()
	c.wakeup()
	return true
}

// control queues an engine-internal function (listener setup and close,
// shutdown). Unlike execute it never fails for space: there is one per
// listener or worker, so the queue is bounded by those. It reports false
// once the loop has exited; the caller then does the work itself, which is
// safe because no loop thread is left to race with.
func (c *center) control(fn func()) bool {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return false
	}
	c.ctl = append(c.ctl, fn)
	c.queued.Store(true)
	c.mu.Unlock()
	c.wakeup()
	return true
}

// processExternal runs what was posted before it started; what the
// functions post in turn waits for the next turn (which then does not
// sleep), so a self-re-posting function cannot starve the sockets.
func (c *center) processExternal() {
	if !c.queued.Load() {
		return
	}
	c.mu.Lock()
	c.queued.Store(false)
	c.runTasks, c.tasks = c.tasks, c.runTasks[:0]
	c.runOps, c.opConns = c.opConns, c.runOps[:0]
	c.runCtl, c.ctl = c.ctl, c.runCtl[:0]
	c.mu.Unlock()
	for i, cn := range c.runOps {
		c.runOps[i] = nil
		c.mu.Lock()
		ops := cn.ops
		cn.ops = 0
		c.mu.Unlock()
		cn.runOps(ops)
	}
	for i, fn := range c.runTasks {
		c.runTasks[i] = nil
		fn()
	}
	for i, fn := range c.runCtl {
		c.runCtl[i] = nil
		fn()
	}
}

// exit marks the loop dead and hands back what is still queued, for the
// worker to close down.
func (c *center) exit() (ops []*conn, ctl []func()) {
	c.mu.Lock()
	c.dead = true
	c.tasks = nil
	ops, c.opConns = c.opConns, nil
	ctl, c.ctl = c.ctl, nil
	c.mu.Unlock()
	c.timers.Close()
	return ops, ctl
}
