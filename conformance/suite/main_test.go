// Package suite is the black-box conformance suite: every case drives
// bin/<engine> only through CONTRACT.md and spec/cli.md, over loopback
// sockets, and every engine gets the same cases. TestMain writes the
// engine × case matrix and the interop matrix to results/conformance/.
//
//	go test ./suite/                    all engines in bin/
//	ENGINES=goroutine go test ./suite/  a chosen set
//	BIN_DIR=/elsewhere go test ./suite/
//
// The matrix is written when the whole suite ran (no -run filter) or when
// MATRIX_DIR names a folder.
package suite

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/conformance/internal/harness"
	"github.com/netmodels/netmodels/conformance/internal/msgr1"
)

var (
	engines     []harness.Engine
	discoverErr error
	// reference is haproxy, a column of every proxy case (nil with
	// REFERENCE=none); referenceErr says why it is missing.
	reference    *harness.Engine
	referenceErr error
	results      *harness.Results
	// heavy serialises cases with many connections or large transfers.
	heavy = make(chan struct{}, 1)
)

// allCases is every registered case, in registry order, then the msgr2
// variants.
func allCases() []harness.Case {
	var cs []harness.Case
	cs = append(cs, msgrCases...)
	cs = append(cs, msgrClientCases...)
	cs = append(cs, msgrSessionCases...)
	cs = append(cs, dualBindCases...)
	cs = append(cs, abuseStallCases...)
	cs = append(cs, abuseFDCases...)
	cs = append(cs, proxyCases...)
	cs = append(cs, proxyCheckCases...)
	cs = append(cs, proxyProtoCheckCases...)
	cs = append(cs, interopCases...)
	cs = append(cs, netCases...)
	// Then each messenger case's msgr2 variant "<id>@v2" (v2_test.go).
	return withV2Plans(cs)
}

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "test.parallel" {
			explicit = true
		}
	})
	if !explicit {
		// Most cases wait on sockets and timers, not CPU; 4 keeps a
		// 2-core machine busy without starving timing checks; heavy
		// cases additionally take the heavy token.
		_ = flag.Set("test.parallel", "6")
	}
	raiseFileLimit()
	engines, discoverErr = harness.Discover()
	reference, referenceErr = harness.Reference()
	if done, code := harness.EnterTopology(engines); done {
		os.Exit(code)
	}
	msgr1.ListenHost = harness.HostIP()
	results = harness.NewResults(engines, allCases())
	if reference != nil {
		results.SetReference(reference.Name)
	}
	code := m.Run()
	if err := stopRados(); err != nil {
		fmt.Fprintf(os.Stderr, "rados cluster: %v\n", err)
		code = 1
	}
	dir := os.Getenv("MATRIX_DIR")
	if dir == "" && flag.Lookup("test.run").Value.String() == "" && discoverErr == nil && len(engines) > 0 {
		if root, err := harness.RepoRoot(); err == nil {
			dir = filepath.Join(root, "results", "conformance")
		}
	}
	if dir != "" {
		if err := results.Write(dir); err != nil {
			fmt.Fprintf(os.Stderr, "write matrix: %v\n", err)
			code = 1
		} else {
			fmt.Fprintf(os.Stderr, "conformance matrix written to %s\n", dir)
		}
	}
	os.Exit(code)
}

// TestEngines fails when there is nothing to test: an empty matrix is not
// a pass.
func TestEngines(t *testing.T) {
	harness.NoteInputs(engines)
	if discoverErr != nil {
		t.Fatal(discoverErr)
	}
	if len(engines) == 0 {
		t.Fatal("no engine binaries found in bin/ (run `make build`, or set ENGINES / BIN_DIR)")
	}
	for _, e := range engines {
		t.Logf("engine %s: %s", e.Name, e.Path)
	}
}

// TestReference fails when haproxy, the reference column of the proxy
// cases, is missing (REFERENCE=none leaves the column out on purpose).
func TestReference(t *testing.T) {
	if referenceErr != nil {
		t.Fatalf("reference column: %v", referenceErr)
	}
	if reference != nil {
		t.Logf("reference %s: %s", reference.Name, reference.Path)
	}
}

// TestConformance runs every case for every engine as parallel subtests
// named <engine>/<case id>, e.g. -run 'TestConformance/goroutine/msgr-echo'.
func TestConformance(t *testing.T) {
	harness.NoteInputs(engines)
	ids := map[string]bool{}
	for _, c := range allCases() {
		if ids[c.ID] {
			t.Fatalf("duplicate case id %s", c.ID)
		}
		ids[c.ID] = true
	}
	for _, e := range engines {
		for _, c := range allCases() {
			if c.Run != nil {
				results.RunCase(t, c, e, heavy)
			}
		}
	}
	// haproxy runs every proxy case's configuration: the matrix's
	// "same as haproxy" column (subtests haproxy/<case id>).
	if reference != nil {
		for _, c := range allCases() {
			if c.Kind == harness.KindProxy && c.Run != nil {
				results.RunCase(t, c, *reference, heavy)
			}
		}
	}
}

// TestZCleanExits turns what every Cleanup saw when it stopped a process
// (SIGTERM → exit 0 within 5 s, nothing on stdout after READY) into the
// cli-clean-exit-all cell. It runs after TestConformance has finished.
func TestZCleanExits(t *testing.T) {
	if !ran(t, "TestConformance") {
		return
	}
	for _, e := range engines {
		probs, n := harness.ShutdownProblems(e.Name)
		cell := harness.CellResult{Status: harness.Pass}
		if n == 0 {
			cell = harness.CellResult{Status: harness.Fail, Reason: "no process was stopped: nothing to judge"}
		}
		if len(probs) > 0 {
			cell = harness.CellResult{Status: harness.Fail, Reason: fmt.Sprintf("%d of %d processes: %s (case %s)", len(probs), n, probs[0].Problem, probs[0].Case)}
		}
		results.Set(e.Name, cleanExitCase.ID, cell)
		if cell.Status == harness.Fail {
			t.Errorf("%s: %s", e.Name, cell.Reason)
		}
	}
}

// ran reports whether the -run filter selected the named test.
func ran(t *testing.T, name string) bool {
	pat := flag.Lookup("test.run").Value.String()
	if pat == "" {
		return true
	}
	ok, _ := regexp.MatchString(strings.SplitN(pat, "/", 2)[0], name)
	return ok
}
