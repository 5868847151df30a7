//go:build race

package netpollengine

// raceBuild: netpoll's race build finds a connection from an epoll event
// by fd number (poll_default_linux_race.go), not by pointer.
const raceBuild = true
