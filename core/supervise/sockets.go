package supervise

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ListeningBy reports whether the process pid owns a socket listening on
// addr ("host:port"; an empty or "*" host means any address). It reads the
// kernel's socket tables rather than connecting, so the check is invisible
// to the peer. The tables are the ones of pid's network namespace
// (/proc/PID/net/tcp), so a child started in another namespace (`ip netns
// exec`, core/netsim) is seen listening there.
func ListeningBy(pid int, addr string) (bool, error) {
	ap, err := parseListenAddr(addr)
	if err != nil {
		return false, err
	}
	inodes, err := listenInodes(pid, ap)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // exited; WaitFor notices exits
	}
	if err != nil || len(inodes) == 0 {
		return false, err
	}
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return false, nil // exiting, or not started yet; WaitFor notices exits
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name()))
		if err != nil {
			continue
		}
		if strings.HasPrefix(link, "socket:[") && inodes[strings.TrimSuffix(link[len("socket:["):], "]")] {
			return true, nil
		}
	}
	return false, nil
}

func parseListenAddr(addr string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: %w", addr, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: bad port", addr)
	}
	a := netip.IPv4Unspecified()
	if host != "" && host != "*" {
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, fmt.Errorf("address %q: %w", addr, err)
		}
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

// listenInodes returns the inodes of sockets in state LISTEN, in pid's
// network namespace, that accept connections to ap: bound to ap itself or
// to the wildcard of its family.
func listenInodes(pid int, ap netip.AddrPort) (map[string]bool, error) {
	file := filepath.Join("/proc", strconv.Itoa(pid), "net", "tcp")
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		file += "6"
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read socket table: %w", err)
	}
	defer f.Close()
	want := map[string]bool{procAddr(ap.Addr(), ap.Port()): true}
	if ap.Addr().Is4() {
		want[procAddr(netip.IPv4Unspecified(), ap.Port())] = true
	} else {
		want[procAddr(netip.IPv6Unspecified(), ap.Port())] = true
	}
	inodes := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[3] != "0A" { // 0A = TCP_LISTEN
			continue
		}
		if want[fs[1]] {
			inodes[fs[9]] = true
		}
	}
	return inodes, sc.Err()
}

// procAddr formats an address as /proc/net/tcp does: the address as the
// kernel's native-endian 32-bit words in hex, then the port in hex.
func procAddr(a netip.Addr, port uint16) string {
	var raw []byte
	if a.Is4() {
		b := a.As4()
		raw = b[:]
	} else {
		b := a.As16()
		raw = b[:]
	}
	out := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 { // little-endian words (amd64, arm64)
		out[i], out[i+1], out[i+2], out[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	return strings.ToUpper(hex.EncodeToString(out)) + fmt.Sprintf(":%04X", port)
}
