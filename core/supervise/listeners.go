package supervise

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Listeners lists every socket the process pid holds in the listening
// state: TCP ones as "host:port" (IPv6 as "[::1]:port", the form of a
// READY line) and UNIX ones by path ("@name" for an abstract one). A
// test uses it to check that a process listens only where it was told
// to (no stray metrics or stats listener). Like ListeningBy it reads the
// socket tables of pid's network namespace, so it sees what the peer
// could connect to, and nothing is connected.
func Listeners(pid int) (tcp, unix []string, err error) {
	owned, err := socketInodes(pid)
	if err != nil {
		return nil, nil, err
	}
	for _, file := range []string{"tcp", "tcp6"} {
		ls, err := listenSockets(pid, file, owned)
		if err != nil {
			return nil, nil, err
		}
		for _, l := range ls {
			tcp = append(tcp, l.String())
		}
	}
	unix, err = unixListeners(pid, owned)
	return tcp, unix, err
}

// socketInodes is the set of socket inodes among pid's descriptors.
func socketInodes(pid int) (map[string]bool, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("descriptors of pid %d: %w", pid, err)
	}
	owned := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if in, ok := strings.CutPrefix(link, "socket:["); ok {
			owned[strings.TrimSuffix(in, "]")] = true
		}
	}
	return owned, nil
}

// listenSockets lists the sockets in state LISTEN in the socket table
// file ("tcp" or "tcp6") of pid's network namespace whose inodes are in
// owned (nil: any owner). A missing tcp6 table (a kernel without IPv6)
// lists nothing; a missing tcp table, as for a process gone, is an error
// that wraps fs.ErrNotExist.
func listenSockets(pid int, file string, owned map[string]bool) ([]netip.AddrPort, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "net", file))
	if os.IsNotExist(err) && file == "tcp6" {
		return nil, nil // a kernel without IPv6
	}
	if err != nil {
		return nil, fmt.Errorf("read socket table: %w", err)
	}
	defer f.Close()
	var out []netip.AddrPort
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[3] != "0A" || (owned != nil && !owned[fs[9]]) { // 0A = TCP_LISTEN
			continue
		}
		ap, err := parseProcAddr(fs[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		out = append(out, ap)
	}
	return out, sc.Err()
}

// parseProcAddr reads a /proc/net/tcp address: the kernel's native-endian
// 32-bit words in hex, then the port in hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	raw, err := hex.DecodeString(h)
	if !ok || err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	for i := 0; i < len(raw); i += 4 { // native little-endian words
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	a, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// unixListeners reads /proc/PID/net/unix: Num RefCount Protocol Flags
// Type St Inode [Path]; Flags 00010000 (__SO_ACCEPTCON) marks a
// listening socket.
func unixListeners(pid int, owned map[string]bool) ([]string, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "net", "unix"))
	if err != nil {
		return nil, fmt.Errorf("read socket table: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 || fs[3] != "00010000" || !owned[fs[6]] {
			continue
		}
		out = append(out, fs[7])
	}
	return out, sc.Err()
}
