// Package peers starts real third-party peers for tests, the conformance
// suite and the perf harness: HAProxy 2.6 (Debian package haproxy), a
// Ceph Pacific monitor (Debian package ceph-mon), a Ceph OSD on memstore
// in its cluster (ceph-osd; the ceph and rados commands of ceph-common
// drive them) and redis-server (Debian package redis-server: masters and
// replicas for the proxy's tcp-check cases). Everything binds to
// loopback, or to documentation addresses inside a private network
// namespace the caller made (core/dpdknet).
//
// The core API (StartHAProxy, StartCephMon, Process) does not depend on
// package testing's T, so a plain program such as the perf harness can use
// it; StartHAProxyT and StartCephMonT are thin wrappers for tests that stop
// the peer in t.Cleanup and fail the test if it died on its own.
//
// Rules the helpers keep (the process side is core/supervise's):
//   - A peer is started as a direct child, in the foreground (haproxy -db,
//     ceph-mon -f), so the PID we hold is the peer itself. Stop signals
//     exactly that PID (SIGTERM, then SIGKILL after 5 s) and reaps it;
//     nothing is ever killed by name.
//   - Readiness is observed, never slept for: a start returns once the
//     kernel lists a listening socket on the expected address that belongs
//     to the child's own PID, or once an expected log line appears, within
//     a bounded deadline. Checking the socket table instead of connecting
//     keeps readiness probes out of the peer's logs and out of a proxy's
//     backend connection counts.
//   - A failure quotes the tail of the peer's log.
//   - Each child dies with the process that started it (Pdeathsig), so a
//     crashed test binary leaves no peer behind.
//
// The perf harness starts its anchors (haproxy, ceph-mon) here too, with
// its own options (pinned CPUs, Ceph's own timers): one bootstrap.
package peers
