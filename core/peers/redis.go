package peers

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RedisBinary finds redis-server (Debian package redis-server).
func RedisBinary() (string, error) { return findBinary("redis-server", "redis-server") }

// RedisOptions tune StartRedis.
type RedisOptions struct {
	// Addr is "IP:PORT" on loopback (or in a documentation range inside a
	// namespace the caller made). Port 0 picks a free port, and a port
	// taken between the pick and redis-server's bind is picked again (at
	// most redisPortAttempts times); Redis.Addr has the port in use.
	Addr string
	// ReplicaOf is the master's "IP:PORT"; empty: a master.
	ReplicaOf string
	// Dir holds the log (and would hold data; persistence is off).
	// Empty: a new temporary directory that Stop removes.
	Dir string
	// ReadyTimeout bounds the wait for the listening socket; 0 means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// Redis is a running redis-server.
type Redis struct {
	*Process
	Addr string
}

// StartRedis runs redis-server in the foreground with persistence off,
// bound to opts.Addr only, and returns once it listens there. A replica
// is started with --replicaof; it may still be syncing when this returns
// (see RedisCommand "INFO replication" for master_link_status).
func StartRedis(opts RedisOptions) (*Redis, error) {
	if err := checkLocalAddr(opts.Addr); err != nil {
		return nil, fmt.Errorf("peers: redis: %w", err)
	}
	host, port, _ := net.SplitHostPort(opts.Addr)
	if port != "0" {
		return startRedis(opts)
	}
	var err error
	for range redisPortAttempts {
		var p int
		if p, err = pickPort(); err != nil {
			return nil, err
		}
		o := opts
		o.Addr = net.JoinHostPort(host, strconv.Itoa(p))
		var r *Redis
		if r, err = startRedis(o); err == nil || !strings.Contains(err.Error(), redisPortTaken) {
			return r, err
		}
	}
	return nil, fmt.Errorf("peers: redis: %d free ports were taken before redis-server bound them: %w", redisPortAttempts, err)
}

// redisPortAttempts bounds the picks of a free port for Addr's port 0:
// another process takes a just-freed port rarely, three times in a row
// only when something is wrong.
const redisPortAttempts = 3

// redisPortTaken is what redis-server logs when its bind fails because
// the port is in use (TestRedisTakenPort pins it).
const redisPortTaken = "Address already in use"

// pickPort is FreePort; a test replaces it to hand out a taken port.
var pickPort = FreePort

func startRedis(opts RedisOptions) (*Redis, error) {
	bin, err := RedisBinary()
	if err != nil {
		return nil, err
	}
	dir, own, err := workDir(opts.Dir, "redis")
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(opts.Addr)
	args := []string{"--bind", host, "--port", port, "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--protected-mode", "no", "--logfile", ""}
	if opts.ReplicaOf != "" {
		if err := checkLocalAddr(opts.ReplicaOf); err != nil {
			cleanupDir(dir, own)
			return nil, fmt.Errorf("peers: redis: replicaof: %w", err)
		}
		mh, mp, _ := net.SplitHostPort(opts.ReplicaOf)
		args = append(args, "--replicaof", mh, mp)
	}
	p, err := spawn("redis-server", bin, args, dir, filepath.Join(dir, "redis.log"), "", nil)
	if err != nil {
		cleanupDir(dir, own)
		return nil, err
	}
	p.ownDir = own
	if err := p.waitListening([]string{opts.Addr}, opts.ReadyTimeout); err != nil {
		p.Stop()
		return nil, err
	}
	return &Redis{Process: p, Addr: opts.Addr}, nil
}

// Do sends one command to the server and returns its reply as text.
func (r *Redis) Do(args ...string) (string, error) {
	return RedisCommand(r.Addr, 5*time.Second, args...)
}

// maxRedisReply bounds a reply RedisCommand reads.
const maxRedisReply = 1 << 20

// RedisCommand connects to addr, sends one command (a RESP array of
// bulk strings) and returns the reply: a status or error line without
// its prefix ("OK", "ERR ..."; an error reply is also returned as an
// error), an integer, a bulk string, or the elements of an array joined
// by "\n". Replies are bounded by 1 MiB.
func RedisCommand(addr string, timeout time.Duration, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", fmt.Errorf("redis %s: %w", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", fmt.Errorf("redis %s: %w", addr, err)
	}
	s, err := readRESP(bufio.NewReader(c), 0)
	if err != nil {
		return s, fmt.Errorf("redis %s %s: %w", addr, strings.Join(args, " "), err)
	}
	return s, nil
}

func readRESP(r *bufio.Reader, depth int) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply line")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return line[1:], fmt.Errorf("%s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n > maxRedisReply {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n > 1024 || depth > 4 {
			return "", fmt.Errorf("bad array %q", line)
		}
		var parts []string
		for range n {
			s, err := readRESP(r, depth+1)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}
