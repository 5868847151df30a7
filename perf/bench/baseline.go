package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/netmodels/netmodels/perf/result"
)

// Baseline is the engines of another commit, built in a git worktree of
// it under the repository's .cache/ and measured in the same run as the
// current ones (perf run --baseline REV): each engine's ENGINE@LABEL
// target takes its turn right after ENGINE's, so a change is judged
// within one run on one machine, under the same noise, instead of
// against a run made another time (where the raw TCP floor alone has
// moved 3×, issue 19).
type Baseline struct {
	result.Baseline
	// BinDir holds the engines built at Commit (bin/<engine>).
	BinDir string
	// Missing says, per engine, why it has no binary at Commit (its
	// module did not exist there): the target is shown absent with it.
	Missing map[string]string

	top string // the repository's top level (owns the worktree)
	dir string // the temporary folder: src (the worktree) and bin
	src string
}

// BaselineLabel is rev made safe for target and file names: what git
// allows in a revision but a file name or a report table should not hold
// ("/" of origin/main, ":" or "{" of other forms) becomes "-", so the
// label stays recognisably the user's own spelling (HEAD~1 stays HEAD~1).
func BaselineLabel(rev string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		case strings.ContainsRune("._~^+-", r):
			return r
		}
		return '-'
	}, rev)
}

// baseTarget is target without a baseline's "@LABEL": what it is,
// whichever commit it was built at (dpdk-memif for dpdk-memif@HEAD~1).
func baseTarget(target string) string {
	e, _ := result.SplitBaseline(target)
	return e
}

// PrepareBaseline resolves rev in the repository holding repo, checks it
// out detached in a new worktree under REPO/.cache/perf-baseline/ and
// builds there, into that folder's own bin/, the engine modules among
// engines (nil: every impl-* of that commit), the way `make build` does.
// The caller must Remove it, also on error later on; on error here
// nothing is left behind.
func PrepareBaseline(ctx context.Context, repo, rev string, engines []string, logf func(string, ...any)) (_ *Baseline, err error) {
	if rev == "" || strings.HasPrefix(rev, "-") {
		return nil, fmt.Errorf("baseline %q: not a revision", rev)
	}
	top, err := gitOut(ctx, repo, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %s is not in a git checkout: %w", rev, repo, err)
	}
	commit, err := gitOut(ctx, top, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("baseline %s: not a commit of %s", rev, top)
	}
	b := &Baseline{Baseline: result.Baseline{Rev: rev, Label: BaselineLabel(rev), Commit: commit},
		Missing: map[string]string{}, top: top}
	cache := filepath.Join(top, ".cache", "perf-baseline")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("baseline %s: %w", rev, err)
	}
	if b.dir, err = os.MkdirTemp(cache, commit[:12]+"-"); err != nil {
		return nil, fmt.Errorf("baseline %s: %w", rev, err)
	}
	b.src, b.BinDir = filepath.Join(b.dir, "src"), filepath.Join(b.dir, "bin")
	defer func() {
		if err != nil {
			if rerr := b.Remove(); rerr != nil {
				err = fmt.Errorf("%w (and cleaning up: %v)", err, rerr)
			}
		}
	}()
	// The hash, not rev: a branch moving meanwhile must not change what
	// is built from what the run records.
	if _, err := gitOut(ctx, top, "worktree", "add", "--detach", b.src, commit); err != nil {
		return nil, fmt.Errorf("baseline %s: git worktree add: %w", rev, err)
	}
	if err := os.MkdirAll(b.BinDir, 0o755); err != nil {
		return nil, fmt.Errorf("baseline %s: %w", rev, err)
	}
	mods, err := filepath.Glob(filepath.Join(b.src, "impl-*"))
	if err != nil {
		return nil, err
	}
	var have []string
	for _, m := range mods {
		have = append(have, strings.TrimPrefix(filepath.Base(m), "impl-"))
	}
	want := have
	if len(engines) > 0 {
		want = nil
		for _, e := range engines {
			e = engineBase(e)
			if slices.Contains(want, e) {
				continue
			}
			if !slices.Contains(have, e) {
				b.Missing[e] = fmt.Sprintf("no impl-%s at %s (%s)", e, rev, commit[:12])
				continue
			}
			want = append(want, e)
		}
	}
	for _, e := range want {
		if err := b.build(ctx, e, logf); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// build builds engine e at the baseline as the Makefile's build target
// does (bin/dpdk with DPDK where libdpdk is installed), in the worktree's
// own workspace: with GOWORK set to it, since an enclosing go.work (the
// repository's own, the worktree being under it) must not be used.
func (b *Baseline) build(ctx context.Context, e string, logf func(string, ...any)) error {
	args := []string{"build"}
	if e == DPDK && exec.Command("pkg-config", "--exists", "libdpdk").Run() == nil {
		args = append(args, "-tags", "dpdk")
	}
	args = append(args, "-o", filepath.Join(b.BinDir, e), "./impl-"+e+"/cmd/"+e)
	if logf != nil {
		logf("baseline: building %s at %s (%s)", e, b.Rev, b.Commit[:12])
	}
	work := "off"
	if _, err := os.Stat(filepath.Join(b.src, "go.work")); err == nil {
		work = filepath.Join(b.src, "go.work")
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = b.src
	cmd.Env = append(os.Environ(), "GOWORK="+work)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("baseline %s: go %s: %w\n%s", b.Rev, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Remove deletes the worktree (and git's record of it) and the binaries.
// It does not depend on the run's context: it must also run after an
// interrupt.
func (b *Baseline) Remove() error {
	if b == nil || b.dir == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	if _, err := os.Stat(b.src); err == nil {
		if _, err := gitOut(ctx, b.top, "worktree", "remove", "--force", b.src); err != nil {
			errs = append(errs, fmt.Errorf("git worktree remove: %w", err))
		}
	}
	if err := os.RemoveAll(b.dir); err != nil {
		errs = append(errs, err)
	}
	// Whatever remove could not do, prune forgets once the folder is gone.
	if _, err := gitOut(ctx, b.top, "worktree", "prune"); err != nil {
		errs = append(errs, fmt.Errorf("git worktree prune: %w", err))
	}
	b.dir = ""
	return errors.Join(errs...)
}

// Target names engine's baseline target.
func (b *Baseline) Target(engine string) string { return result.BaselineTarget(engine, b.Label) }

// gitOut runs git in dir and returns its trimmed output; an error carries
// git's own message.
func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("%w: %s", err, msg)
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// withBaseline puts, right after each engine of infos, the same engine
// built at the baseline (when the run has one), named ENGINE@LABEL: the
// scenarios build their targets in this order and runTurns takes the
// repetitions in it, so each engine and its baseline measure in
// adjacent turns. The anchors, added after, are not duplicated.
func (r *runner) withBaseline(infos []result.TargetInfo) []result.TargetInfo {
	b := r.cfg.Baseline
	if b == nil {
		return infos
	}
	var names []string
	for _, ti := range infos {
		names = append(names, ti.Name)
	}
	old := DiscoverEngines(b.BinDir, names)
	var out []result.TargetInfo
	for i, ti := range infos {
		bi := old[i]
		bi.Name = b.Target(ti.Name)
		if why := b.Missing[engineBase(ti.Name)]; why != "" {
			bi.Reason = why
		}
		if bi.Tuning == nil {
			bi.Tuning = map[string]string{}
		}
		bi.Tuning["built at"] = fmt.Sprintf("%s = %s (git worktree, go build)", b.Rev, b.Commit)
		out = append(out, ti, bi)
	}
	return out
}
