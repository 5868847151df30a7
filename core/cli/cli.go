// Package cli is the command line every engine binary shares (spec/cli.md).
// An engine's main.go is a few lines:
//
//	func main() { os.Exit(cli.Main(cli.Engine{Name: "goroutine", New: goroutine.New})) }
//
// Subcommands (msgr-server, msgr-client, proxy) are written once here, on top
// of the engine contract, so every engine behaves the same from outside.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/netmodels/netmodels/core/engine"
)

// Version is the project version printed by `version`.
const Version = "0.1.0"

// ExitUsage is the exit status for bad flags, bad configs and unusable
// addresses (CONTRACT.md).
const ExitUsage = 2

// Engine describes the engine a binary is built on.
type Engine struct {
	Name string
	// Version of the engine's I/O library, e.g. "gnet v2.10.0"; optional.
	LibVersion string
	// New builds an engine with the given configuration.
	New func(cfg engine.Config) (engine.Engine, error)
}

// Env is what a subcommand gets: the engine, the process's streams, and a
// context cancelled on SIGTERM or SIGINT.
type Env struct {
	Engine Engine
	Stdout io.Writer
	Stderr io.Writer
	// Ctx ends on SIGTERM/SIGINT; a long-running command then stops
	// accepting, finishes or drops in-flight work and returns 0 within 5 s.
	Ctx context.Context
	// Signals delivers other signals a command asked for (SIGUSR1 for the
	// proxy's soft-stop).
	Signals <-chan os.Signal

	readyOnce sync.Once
}

// Ready prints the single READY line with the real bound addresses. After
// it, nothing else goes to stdout (CONTRACT.md).
func (e *Env) Ready(addrs ...net.Addr) {
	e.readyOnce.Do(func() {
		parts := make([]string, len(addrs))
		for i, a := range addrs {
			parts[i] = FormatAddr(a)
		}
		fmt.Fprintf(e.Stdout, "READY %s\n", strings.Join(parts, " "))
		if f, ok := e.Stdout.(interface{ Sync() error }); ok {
			_ = f.Sync()
		}
	})
}

// Logf writes one line to stderr, prefixed with the engine name.
func (e *Env) Logf(format string, args ...any) {
	fmt.Fprintf(e.Stderr, "%s: %s\n", e.Engine.Name, fmt.Sprintf(format, args...))
}

// Usagef reports a usage error on one line and returns ExitUsage.
func (e *Env) Usagef(format string, args ...any) int {
	fmt.Fprintf(e.Stderr, "%s: %s\n", e.Engine.Name, fmt.Sprintf(format, args...))
	return ExitUsage
}

// FormatAddr prints host:port, IPv6 as [::1]:port.
func FormatAddr(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return net.JoinHostPort(ta.IP.String(), fmt.Sprint(ta.Port))
	}
	return a.String()
}

// Command is one subcommand.
type Command struct {
	Name    string
	Summary string
	Run     func(env *Env, args []string) int
}

var commands = map[string]Command{}

// Register adds a subcommand; called from init functions in this package.
func Register(c Command) { commands[c.Name] = c }

// Main runs the binary and returns its exit status.
func Main(eng Engine) int {
	return run(eng, os.Args[1:], os.Stdout, os.Stderr)
}

func run(eng Engine, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(eng, stderr)
		return ExitUsage
	}
	if args[0] == "version" {
		lib := eng.LibVersion
		if lib == "" {
			lib = "-"
		}
		fmt.Fprintf(stdout, "%s netmodels %s (%s, %s %s/%s)\n", eng.Name, Version, lib, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown subcommand %q\n", eng.Name, args[0])
		usage(eng, stderr)
		return ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGHUP)
	defer signal.Stop(sigs)
	env := &Env{Engine: eng, Stdout: stdout, Stderr: stderr, Ctx: ctx, Signals: sigs}
	stopProfile, err := startProfile(os.Getenv(ProfileEnv))
	if err != nil {
		return env.Usagef("%v", err)
	}
	stopWindows, err := startWindows(os.Getenv(WindowEnv), os.Stdin, stderr, eng.Name+": ")
	if err != nil {
		_ = stopProfile()
		return env.Usagef("%v", err)
	}
	code := cmd.Run(env, args[1:])
	stopWindows()
	if err := stopProfile(); err != nil {
		env.Logf("%v", err)
	}
	return code
}

func usage(eng Engine, w io.Writer) {
	fmt.Fprintf(w, "usage: %s <command> [flags]\n\ncommands:\n", eng.Name)
	fmt.Fprintf(w, "  %-12s %s\n", "version", "print the engine name and version")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].Summary)
	}
}

// NewFlagSet returns a flag set that reports errors on one line to env's
// stderr instead of printing the whole usage; Parse then yields ExitUsage.
func NewFlagSet(env *Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// ParseFlags parses args and turns a flag error into a one-line message.
// It returns ok=false and the exit status to use when parsing failed.
func ParseFlags(env *Env, fs *flag.FlagSet, args []string) (status int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(env.Stderr)
			fs.PrintDefaults()
			return ExitUsage, false
		}
		return env.Usagef("%s: %v", fs.Name(), err), false
	}
	if fs.NArg() > 0 {
		return env.Usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0)), false
	}
	return 0, true
}

// ShutdownEngine shuts eng down within the contract's 5 s budget.
func ShutdownEngine(eng engine.Engine) error {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	return eng.Shutdown(ctx)
}
