// Package harness runs engine binaries the way CONTRACT.md describes them:
// it finds them, starts them, waits for their READY line, captures their
// stderr for failure messages and stops them by PID. It also holds the case
// registry and writes the result matrix. It imports no engine.
package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/netmodels/netmodels/core/supervise"
)

// Engine is one engine binary under test.
type Engine struct {
	Name string // e.g. "goroutine"
	Path string // absolute path of bin/<name>
	// Userspace: the engine runs its own TCP/IP stack (bin/dpdk) and is
	// run in the dpdknet topology (topology.go).
	Userspace bool
	// Reference: not an engine but real haproxy, run on the proxy cases'
	// configurations (reference.go) for the matrix's haproxy column.
	Reference bool
	// Place, when set, wraps the supervise.Spec of every process the
	// harness starts for this engine (Start, StartClient, Run,
	// StartHAProxy): the network cases set it to a netsim side's Spec so
	// the process runs in that side's namespace (`ip netns exec`, whose
	// exec keeps the PID the harness stops the program's own).
	Place func(supervise.Spec) supervise.Spec
}

// RepoRoot walks up from the working directory to the folder holding go.work.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above the working directory")
		}
		dir = parent
	}
}

// BinDir is $BIN_DIR or <repo>/bin.
func BinDir() (string, error) {
	if d := os.Getenv("BIN_DIR"); d != "" {
		return filepath.Abs(d)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin"), nil
}

// isEngine reports whether path is an engine binary: `path version` prints
// "<basename> netmodels ..." (spec/cli.md). Other executables in bin/ (perf
// tools, scripts) do not, and are left out.
func isEngine(path string) error {
	// os.Stat goes into go test's cache key: a rebuilt binary (new mtime
	// or size) reruns the suite instead of replaying a cached pass.
	if _, err := os.Stat(path); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := supervise.Run(ctx, supervise.Spec{Path: path, Args: []string{"version"}})
	if err == nil && r.Code != 0 {
		err = fmt.Errorf("exit status %d", r.Code)
	}
	if err != nil {
		return fmt.Errorf("%s version: %w", path, err)
	}
	f := strings.Fields(r.Stdout)
	if len(f) < 2 || f[0] != filepath.Base(path) || f[1] != "netmodels" {
		return fmt.Errorf("%s version printed %q, not \"%s netmodels ...\"", path, strings.TrimSpace(r.Stdout), filepath.Base(path))
	}
	return nil
}

// Discover returns the engines under test: $ENGINES (names separated by commas or spaces,
// each of which must exist and answer `version`), or every engine binary
// found in BinDir.
func Discover() ([]Engine, error) {
	dir, err := BinDir()
	if err != nil {
		return nil, err
	}
	if list := os.Getenv("ENGINES"); list != "" {
		var out []Engine
		for _, n := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			p := filepath.Join(dir, n)
			if err := isEngine(p); err != nil {
				return nil, fmt.Errorf("ENGINES names %q: %w", n, err)
			}
			out = append(out, Engine{Name: n, Path: p, Userspace: userspaceStack[n]})
		}
		return out, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w (run `make build` first)", dir, err)
	}
	var out []Engine
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode()&0o111 == 0 {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if isEngine(p) != nil {
			continue
		}
		out = append(out, Engine{Name: e.Name(), Path: p, Userspace: userspaceStack[e.Name()]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// NoteInputs repeats, from inside a running test, the reads that decide
// what the suite tests: go test records only what tests read after m.Run
// starts, so without this a rebuilt binary or a changed ENGINES/BIN_DIR
// would replay a cached result.
func NoteInputs(engines []Engine) {
	for _, k := range []string{"BIN_DIR", "ENGINES", "MATRIX_DIR", "REFERENCE"} {
		_ = os.Getenv(k)
	}
	if dir, err := BinDir(); err == nil {
		_, _ = os.ReadDir(dir)
	}
	for _, e := range engines {
		_, _ = os.Stat(e.Path)
	}
	// The reference (haproxy): an upgraded package reruns the suite.
	if ref, err := Reference(); err == nil && ref != nil {
		_, _ = os.Stat(ref.Path)
	}
}
