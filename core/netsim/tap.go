package netsim

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openTAP creates the TAP device name in the calling thread's network
// namespace (Side.Do puts it there) and returns its file. The descriptor
// is non-blocking, so the runtime's poller waits on it and Close wakes a
// blocked Read. The device is not persistent: it disappears when the
// descriptor is closed, also when this process dies.
func openTAP(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("netsim: open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err == nil {
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
		err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netsim: create tap %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "tap:"+name), nil
}
