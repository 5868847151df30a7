// Package netsim is a two-host network on one machine: a client and a
// server network namespace joined by a link under a network-condition
// profile (lan, dc, wan, lossy, bad; spec/topology.md).
//
// This kernel has no sch_netem (`tc qdisc add ... netem` fails: "Specified
// qdisc kind is unknown"), so delay, jitter, loss, duplication and
// reordering cannot be asked of tc. Instead each namespace gets a TAP
// device and this process forwards frames between the two through Link,
// a userspace model of one direction of a link: a seeded random source,
// a token bucket, a delay line and a drop-tail queue of Profile.Limit
// frames. The lan profile needs none of it and is a plain veth pair.
//
// Link is pure logic with the time passed in, tested with a fake clock;
// Emulator drives two Links over two TAP file descriptors; Topology makes
// the namespaces, addresses and links, runs code and processes on either
// side, and removes everything on Close.
package netsim
