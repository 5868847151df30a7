package supervise

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The test binary doubles as every child the tests need: TestMain runs
// the behaviour SUPERVISE_CHILD names instead of the tests.
const childEnv = "SUPERVISE_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// child is the Spec of a test child in mode with extra args.
func child(t testing.TB, mode string, args ...string) Spec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Spec{Name: mode, Path: exe, Args: args, Env: []string{childEnv + "=" + mode}}
}

func runChild(mode string, args []string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	switch mode {
	case "ready": // READY with args as its fields; exit 0 on SIGTERM
		fmt.Println(append([]any{"READY"}, anys(args)...)...)
		<-term
		return 0
	case "ignore-term": // READY, then ignores SIGTERM until killed
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("READY")
		select {}
	case "term-status": // READY; exits 3 on SIGTERM
		fmt.Println("READY")
		<-term
		return 3
	case "exit": // says args[1] on stderr, args[2] on stdout, exits args[0]
		code, _ := strconv.Atoi(args[0])
		fmt.Fprintln(os.Stderr, args[1])
		if len(args) > 2 {
			fmt.Println(args[2])
		}
		return code
	case "silent": // nothing until SIGTERM
		<-term
		return 0
	case "echo": // READY, then every stdin line back on stdout
		go func() { <-term; os.Exit(0) }()
		fmt.Println("READY")
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			fmt.Println(sc.Text())
		}
		return 0
	case "listen-on-eof": // READY addr of a bound socket; listen(2) once stdin closes
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err == nil {
			err = unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
		}
		var sa unix.Sockaddr
		if err == nil {
			sa, err = unix.Getsockname(fd)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("READY", fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port))
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		if err := unix.Listen(fd, 1); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		<-term
		return 0
	case "listen-any": // listens on 0.0.0.0, says READY 127.0.0.1:port
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err == nil {
			err = unix.Bind(fd, &unix.SockaddrInet4{})
		}
		if err == nil {
			err = unix.Listen(fd, 1)
		}
		var sa unix.Sockaddr
		if err == nil {
			sa, err = unix.Getsockname(fd)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("READY", fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port))
		<-term
		return 0
	case "log-on-eof": // READY; writes args[1] to the file args[0] once stdin closes
		fmt.Println("READY")
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		if err := os.WriteFile(args[0], []byte("start\n"+args[1]+"\n"), 0o644); err != nil {
			return 1
		}
		<-term
		return 0
	case "parent": // starts a "ready" child and says its PID: READY <pid>
		exe, _ := os.Executable()
		p, err := Start(Spec{Path: exe, Env: []string{childEnv + "=ready"}, ReadyWord: "READY"})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("READY", p.PID())
		select {}
	}
	fmt.Fprintln(os.Stderr, "unknown child mode", mode)
	return 2
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
