package headless

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromium returns the browser binary, or skips the test where it is not
// installed; under CI (CI=true) a missing browser fails the test, as make
// deps installs it there.
func chromium(t *testing.T) string {
	t.Helper()
	exe, err := Find()
	if errors.Is(err, ErrNotFound) && os.Getenv("CI") != "true" {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatalf("headless Chromium is required under CI=true: %v", err)
	}
	return exe
}

// TestCheckFindsProblems: the checks are not vacuous. A page with a
// missing image, a broken <object>, a too-wide box and a too-long line is
// reported with each of them; a scroll box holding a wide table is not.
func TestCheckFindsProblems(t *testing.T) {
	exe := chromium(t)
	dir := t.TempDir()
	svg := `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="#36c"/></svg>`
	page := `<!doctype html><html><head><meta charset="utf-8"><style>body{margin:8px}</style></head><body>
<h2 id="sec">A section</h2><div style="height:300px;background:#fc9">its body</div><h3>a subsection</h3><h2>The next section</h2>
<p><img src="ok.svg" alt="ok"> <img src="missing.svg" alt="missing"></p>
<object data="ok.svg" type="image/svg+xml"></object><object data="gone.svg" type="image/svg+xml"></object>
<svg width="30" height="10"><rect width="30" height="10"/></svg>
<div id="wide" style="width:1500px;height:10px;background:#eee"></div>
<pre id="long">` + strings.Repeat("x", 400) + `</pre>
<div style="overflow-x:auto"><table><tr><td style="width:3000px">scrolls in its box</td></tr></table></div>
</body></html>`
	if err := os.WriteFile(filepath.Join(dir, "ok.svg"), []byte(svg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := Start(ctx, exe, 1280, 800)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}()
	if err := b.Load(dir, "index.html"); err != nil {
		t.Fatal(err)
	}
	r, err := b.Check()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %+v", *r)
	if r.InnerWidth != 1280 {
		t.Errorf("innerWidth %d, want the 1280 px window", r.InnerWidth)
	}
	loaded := map[string]bool{}
	for _, im := range r.Images {
		loaded[im.Kind+" "+im.Src] = im.Loaded
	}
	want := map[string]bool{"img ok.svg": true, "img missing.svg": false, "object ok.svg": true, "object gone.svg": false, "svg inline svg": true}
	for k, v := range want {
		if got, ok := loaded[k]; !ok || got != v {
			t.Errorf("%s: loaded %v (listed %v), want %v", k, got, ok, v)
		}
	}
	probs := strings.Join(r.Problems(), "\n")
	for _, w := range []string{"GET /missing.svg: 404", "GET /gone.svg: 404", `img "missing.svg" did not load`,
		"page is ", `div#wide`, `pre#long "xxx`} {
		if !strings.Contains(probs, w) {
			t.Errorf("problems lack %q:\n%s", w, probs)
		}
	}
	if strings.Contains(probs, "scrolls in its box") {
		t.Errorf("a table in a scroll box reported as overflow:\n%s", probs)
	}
	if len(r.Overflow) != 2 {
		t.Errorf("%d overflowing elements, want 2 (div#wide, pre#long): %+v", len(r.Overflow), r.Overflow)
	}
	// A heading is shot with its section (down to the next h2, its
	// subsections included), across the page; no match: the window.
	for _, c := range []struct {
		sel           string
		w, hMin, hMax int
	}{{"#sec", 1280, 300 + 40, 300 + 150}, {"#nosuch", 1280, 700, 800}} {
		shot, err := b.Screenshot(c.sel)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			t.Fatal(err)
		}
		if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != c.w || h < c.hMin || h > c.hMax {
			t.Errorf("screenshot of %s: %dx%d, want %d wide, %d..%d high", c.sel, w, h, c.w, c.hMin, c.hMax)
		}
	}
	pid := b.PID()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Close killed the whole group: none of its processes is left but as
	// a zombie its new parent has yet to reap (dying takes a moment after
	// SIGKILL: bounded wait).
	deadline := time.Now().Add(5 * time.Second)
	for left := liveInGroup(pid); len(left) > 0; left = liveInGroup(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("processes of group %d alive 5 s after Close: %v", pid, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestContextEndKills: the browser does not outlive Start's context, even
// before Close.
func TestContextEndKills(t *testing.T) {
	exe := chromium(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := Start(ctx, exe, 640, 480)
	if err != nil {
		t.Fatal(err)
	}
	pid := b.PID()
	cancel()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		t.Fatal("browser alive 10 s after its context ended")
	}
	if err := b.Close(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Close after the context killed the browser: %v, want it to say killed", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for left := liveInGroup(pid); len(left) > 0; left = liveInGroup(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("processes of group %d alive 5 s after the context ended: %v", pid, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveInGroup lists the processes of process group pgid that are not
// zombies ("pid state comm").
func liveInGroup(pgid int) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[2] != strconv.Itoa(pgid) {
			continue
		}
		out = append(out, e.Name()+" "+f[0]+" "+s[strings.IndexByte(s, '(')+1:i])
	}
	return out
}
