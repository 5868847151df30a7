package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netmodels/netmodels/perf/result"
)

func TestBaselineNames(t *testing.T) {
	for _, tc := range []struct{ rev, label string }{
		{"HEAD~1", "HEAD~1"},
		{"HEAD^2", "HEAD^2"},
		{"origin/main", "origin-main"},
		{"v1.2.3", "v1.2.3"},
		{"main@{yesterday}", "main--yesterday-"},
		{"a b:c", "a-b-c"},
	} {
		if got := BaselineLabel(tc.rev); got != tc.label {
			t.Errorf("BaselineLabel(%q) = %q, want %q", tc.rev, got, tc.label)
		}
	}
	for _, tc := range []struct {
		target, base string
		userspace    bool
	}{
		{"goroutine", "goroutine", false},
		{"goroutine@HEAD~1", "goroutine@HEAD~1", false},
		{"dpdk-memif", "dpdk", true},
		{"dpdk-memif@HEAD~1", "dpdk@HEAD~1", true},
		{"dpdk-spin@origin-main", "dpdk@origin-main", true},
	} {
		if got := engineBase(tc.target); got != tc.base {
			t.Errorf("engineBase(%q) = %q, want %q", tc.target, got, tc.base)
		}
		if got := Userspace(tc.target); got != tc.userspace {
			t.Errorf("Userspace(%q) = %v", tc.target, got)
		}
	}
	r := &runner{cfg: Config{BinDir: "/cur", Baseline: &Baseline{Baseline: result.Baseline{Label: "HEAD~1"}, BinDir: "/old"}}}
	for name, want := range map[string]string{"goroutine": "/cur/goroutine", "goroutine@HEAD~1": "/old/goroutine", "dpdk@HEAD~1": "/old/dpdk"} {
		if got := r.engineBin(name); got != want {
			t.Errorf("engineBin(%q) = %q, want %q", name, got, want)
		}
	}
}

// git runs git in dir with a fixed identity (no user configuration).
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// toyEngine is a module impl-toy whose bin/toy prints its version.
func toyEngine(version string) map[string]string {
	return map[string]string{
		"go.work":                  "go 1.22\n\nuse ./impl-toy\n",
		"impl-toy/go.mod":          "module example.invalid/toy\n\ngo 1.22\n",
		"impl-toy/cmd/toy/main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"toy " + version + "\") }\n",
	}
}

// TestPrepareBaseline builds a local repository's engines at HEAD~1 in a
// worktree under .cache/ (no network: a toy module without
// dependencies), and checks that Remove leaves nothing behind, nor does
// a failed preparation.
func TestPrepareBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs git and go build")
	}
	repo := t.TempDir()
	git(t, repo, "init", "-q", "-b", "main")
	writeFiles(t, repo, toyEngine("old"))
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "-m", "old")
	old := git(t, repo, "rev-parse", "HEAD")
	writeFiles(t, repo, toyEngine("new"))
	git(t, repo, "commit", "-q", "-am", "new")
	// A broken engine at a third commit: building it must fail cleanly.
	writeFiles(t, repo, map[string]string{"impl-toy/cmd/toy/main.go": "package main\n\nfunc main() { undefined() }\n"})
	git(t, repo, "commit", "-q", "-am", "broken")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cache := filepath.Join(repo, ".cache", "perf-baseline")
	leftovers := func() []string {
		ents, _ := os.ReadDir(cache)
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	worktrees := func() int { return strings.Count(git(t, repo, "worktree", "list", "--porcelain"), "worktree ") }

	var logged []string
	b, err := PrepareBaseline(ctx, filepath.Join(repo, "impl-toy"), "HEAD~2", []string{"toy", "gone"},
		func(f string, a ...any) { logged = append(logged, f) })
	if err != nil {
		t.Fatal(err)
	}
	if b.Rev != "HEAD~2" || b.Label != "HEAD~2" || b.Commit != old {
		t.Fatalf("baseline %+v, want HEAD~2 = %s", b.Baseline, old)
	}
	if b.Target("toy") != "toy@HEAD~2" {
		t.Fatalf("target %q", b.Target("toy"))
	}
	if !strings.HasPrefix(b.BinDir, cache+string(filepath.Separator)) {
		t.Fatalf("bin %s not under %s", b.BinDir, cache)
	}
	out, err := exec.Command(filepath.Join(b.BinDir, "toy")).Output()
	if err != nil || strings.TrimSpace(string(out)) != "toy old" {
		t.Fatalf("built toy says %q (%v), want the old commit's", out, err)
	}
	if b.Missing["gone"] == "" || b.Missing["toy"] != "" {
		t.Fatalf("missing %v: want gone only", b.Missing)
	}
	if len(logged) != 1 {
		t.Fatalf("logged %q: want one build", logged)
	}
	if n := worktrees(); n != 2 {
		t.Fatalf("%d worktrees during the run, want 2", n)
	}
	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
	if n := worktrees(); n != 1 {
		t.Fatalf("%d worktrees after Remove, want 1", n)
	}
	if l := leftovers(); len(l) != 0 {
		t.Fatalf("left in %s: %v", cache, l)
	}
	if err := b.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}

	for _, rev := range []string{"HEAD", "no-such-branch", "--force"} {
		b, err := PrepareBaseline(ctx, repo, rev, nil, nil)
		if err == nil {
			b.Remove()
			t.Fatalf("baseline %s: no error", rev)
		}
		if n := worktrees(); n != 1 {
			t.Fatalf("baseline %s: %d worktrees left after %v", rev, n, err)
		}
		if l := leftovers(); len(l) != 0 {
			t.Fatalf("baseline %s: left %v after %v", rev, l, err)
		}
		if rev == "HEAD" && !strings.Contains(err.Error(), "undefined") {
			t.Fatalf("build error does not say why: %v", err)
		}
	}
}

// TestRunnerWithBaseline runs a scenario with a baseline beside the
// current engine: ENGINE@LABEL's binary comes from the baseline's bin/,
// its repetitions take turns right after ENGINE's, the anchor runs once,
// and an engine the baseline lacks is absent there with the reason.
func TestRunnerWithBaseline(t *testing.T) {
	dir, self, bin := harnessDir(t, map[string]string{"fake": fakeEngine})
	oldBin := filepath.Join(dir, "old-bin")
	marker := filepath.Join(dir, "old-server-started")
	oldFake := strings.Replace(fakeEngine, `echo "fake 0.0.1"`, `echo "fake 0.0.0-old"`, 1)
	oldFake = strings.Replace(oldFake, `-h ] && exit 0; `, `-h ] && exit 0; echo >> `+marker+`; `, 1)
	writeFiles(t, oldBin, map[string]string{"fake": oldFake})
	if err := os.Chmod(filepath.Join(oldBin, "fake"), 0o755); err != nil {
		t.Fatal(err)
	}
	b := &Baseline{Baseline: result.Baseline{Rev: "v1/old", Label: "v1-old", Commit: "0123456789abcdef"}, BinDir: oldBin,
		Missing: map[string]string{"missing": "no impl-missing at v1/old"}}
	steps := &stepLog{}
	suite := Suite{Name: "test", Reps: 3, Warmup: 10 * time.Millisecond, Duration: 30 * time.Millisecond,
		Scenarios: []string{"msgr-pingpong-4KiB-unpinned"}, Calib: SmokeCalib}
	cfg := Config{Suite: suite, BinDir: bin, Engines: []string{"fake", "missing"}, ClientEngine: "fake", Self: self, PinCPU: -1,
		WorkDir: dir, Baseline: b, Progress: steps}
	run, err := Run(context.Background(), cfg, ".")
	if err != nil {
		t.Fatal(err)
	}
	if run.Baseline == nil || *run.Baseline != b.Baseline {
		t.Fatalf("run.Baseline %+v", run.Baseline)
	}
	sc := run.Scenarios[0]
	var order []string
	for _, c := range sc.Cells {
		order = append(order, c.Target)
	}
	if want := []string{RawTCP, "fake", "fake@v1-old", "missing", "missing@v1-old"}; !slices.Equal(order, want) {
		t.Fatalf("cells %q, want %q", order, want)
	}
	if c := sc.Cell("fake@v1-old"); c.Status != result.StatusOK || len(c.Reps) != 3 {
		t.Fatalf("baseline cell: %+v", c)
	}
	if c := sc.Cell("missing@v1-old"); c.Status != result.StatusAbsent || c.Reason != "no impl-missing at v1/old" {
		t.Fatalf("missing baseline cell: %+v", c)
	}
	// Started once for the warm-up and the repetitions (a turn-taking
	// scenario keeps it up), from the baseline's bin/.
	if b, err := os.ReadFile(marker); err != nil || strings.Count(string(b), "\n") != 1 {
		t.Fatalf("baseline server started %q times (%v)", b, err)
	}
	versions := map[string]string{}
	for _, ti := range run.Targets {
		versions[ti.Name] = ti.Version
	}
	if versions["fake"] != "fake 0.0.1" || versions["fake@v1-old"] != "fake 0.0.0-old" {
		t.Fatalf("versions %v", versions)
	}
	// The repetitions take turns: after the warm-ups, each round is
	// raw-tcp, fake, fake@v1-old.
	reps := steps.targets[3:]
	want := slices.Repeat([]string{RawTCP, "fake", "fake@v1-old"}, 3)
	if !slices.Equal(reps[:len(want)], want) {
		t.Fatalf("turns %q, want %q", reps, want)
	}
}

// stepLog records the order of the runner's progress steps.
type stepLog struct{ targets []string }

func (s *stepLog) Total(int)             {}
func (s *stepLog) Step(_, target string) { s.targets = append(s.targets, target) }
func (s *stepLog) Logf(string, ...any)   {}
