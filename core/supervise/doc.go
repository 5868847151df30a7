// Package supervise starts, watches and stops child processes: the real
// peers of core/peers (haproxy, ceph-mon), the engine binaries the
// conformance suite drives, and everything the perf harness measures or
// loads. It is the one place where this repository forks a process it
// keeps an eye on.
//
// Rules every child gets:
//   - It is started as a direct child with its own process group (a Ctrl-C
//     at the terminal reaches only the parent, which then stops its
//     children in order) and Pdeathsig SIGKILL: if the parent dies without
//     stopping it, the kernel kills it. Go's Pdeathsig fires when the OS
//     thread that forked the child exits, not the process, and the runtime
//     ends a thread whose goroutine exits while locked to it. So every
//     child is forked from one goroutine locked to its thread for the life
//     of the process (spawn.go); a caller's own LockOSThread cannot take a
//     child down with it.
//   - Readiness is observed, never slept for: the child's first stdout
//     line starting with Spec.ReadyWord ("READY addr..."), a listening
//     socket owned by the child's PID (WaitListening, read from the
//     kernel's socket tables so no probe reaches the child), or a line in
//     a log file (WaitLog, WaitFor), each within a bounded deadline and
//     ending early if the child exits.
//   - Output is bounded: stdout and stderr are each kept as their first
//     2 KiB (where a crash begins) and their last Spec.Capture bytes (why
//     it gave up); what falls between is dropped and counted. With
//     Spec.LogFile the child writes straight to that file instead.
//   - Stop signals exactly the child's PID: SIGTERM (and SIGCONT, so a
//     frozen child can act on it), then SIGKILL after Spec.Grace, and
//     reaps it. os.Process signals through a pidfd, so a reaped child's
//     reused PID is never hit. Nothing is ever killed by name.
//   - Every started child is in a registry until it is reaped; NoLeaks
//     fails a test that leaves one running.
package supervise
