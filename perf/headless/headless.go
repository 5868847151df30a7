// Package headless renders the published report page in headless Chromium
// (Debian's chromium package, installed by `make deps`): it checks that
// every image loaded and that nothing overflows the page width, and takes
// screenshots.
//
// The browser is started here, as a process of our own (its PID, in its own
// process group, killed by that PID at Close), and driven over the DevTools
// protocol with github.com/chromedp/chromedp through --remote-debugging-pipe:
// no listening port, and the page is served from 127.0.0.1 only.
package headless

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
)

// ErrNotFound is returned by Find when no Chromium binary is installed.
var ErrNotFound = errors.New("chromium not found (Debian package chromium: `make deps` as root installs it; or set CHROMIUM to a Chromium binary)")

// Find returns the Chromium binary: $CHROMIUM when set, else Debian's
// chromium, else a chromium or chrome on PATH. Debian's real binary is
// preferred to its /usr/bin/chromium launcher, which sources
// /etc/chromium.d (exporting Google API keys, adding extension flags) and
// prints a shell error on machines whose /dev/shm check it misparses.
func Find() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("CHROMIUM=%s: %w", p, err)
		}
		return p, nil
	}
	if fi, err := os.Stat("/usr/lib/chromium/chromium"); err == nil && fi.Mode()&0o111 != 0 {
		return "/usr/lib/chromium/chromium", nil
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", ErrNotFound
}

// Browser is one headless Chromium process and one tab in it.
type Browser struct {
	cmd     *exec.Cmd
	dataDir string
	out     *limitedBuf
	done    chan struct{} // closed when cmd.Wait returned

	tab       context.Context // chromedp's context of our tab
	cancelTab context.CancelFunc
	stopConn  context.CancelFunc // ends the protocol connection
	srv       *server            // the loaded page's folder (Load)
	stopBound func() bool        // stops the kill at ctx's end (Start)
	closeOnce sync.Once

	mu     sync.Mutex
	reaped bool // cmd.Wait returned: the PID may be reused, never signal it
}

// Start starts headless Chromium (exe from Find) with a window of
// width×height CSS pixels and opens a blank tab. ctx bounds the start,
// every later call and the browser's life (killed when ctx ends); Close
// must be called in any case.
func Start(ctx context.Context, exe string, width, height int) (*Browser, error) {
	dataDir, err := os.MkdirTemp("", "headless-chromium-")
	if err != nil {
		return nil, fmt.Errorf("chromium profile dir: %w", err)
	}
	// The protocol pipe: Chromium reads commands on fd 3 and writes
	// answers on fd 4 (--remote-debugging-pipe).
	childR, parentW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("chromium pipe: %w", err)
	}
	parentR, childW, err := os.Pipe()
	if err != nil {
		childR.Close()
		parentW.Close()
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("chromium pipe: %w", err)
	}
	args := []string{
		"--headless=new", "--no-sandbox", "--disable-gpu",
		"--user-data-dir=" + dataDir,
		"--remote-debugging-pipe",
		"--window-size=" + strconv.Itoa(width) + "," + strconv.Itoa(height),
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		// No traffic but to the page's loopback server: no background
		// services, and every host name fails to resolve (the page is
		// addressed by IP).
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-domain-reliability", "--disable-client-side-phishing-detection",
		"--no-pings", "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		// The page's layout must not depend on the machine's DPI.
		"--force-device-scale-factor=1",
		"about:blank",
	}
	cmd := exec.Command(exe, args...)
	out := &limitedBuf{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{childR, childW}
	// Its own process group, so that Close kills the renderer, GPU and
	// zygote children with the browser; and killed with us if we die.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	b := &Browser{cmd: cmd, dataDir: dataDir, out: out, done: make(chan struct{})}
	// Pdeathsig fires when the starting OS thread exits, not the process:
	// start and wait from one goroutine locked to its thread until the
	// browser is gone (go.dev/issue/27505).
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		b.mu.Lock()
		b.reaped = true
		b.mu.Unlock()
		close(b.done)
	}()
	err = <-started
	childR.Close()
	childW.Close()
	if err != nil {
		parentR.Close()
		parentW.Close()
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	// The bound: at ctx's end the browser is killed, whatever it is doing.
	b.stopBound = context.AfterFunc(ctx, b.kill)
	connCtx, stopConn := context.WithCancel(context.Background())
	b.stopConn = stopConn
	alloc := &pipeAllocator{conn: chromedp.NewPipeConn(parentR, parentW), connCtx: connCtx}
	actx, cancelAlloc := chromedp.NewAllocatorContext(ctx, alloc)
	tab, cancelTab := chromedp.NewContext(actx)
	b.tab = tab
	b.cancelTab = func() { cancelTab(); cancelAlloc() }
	// The first action attaches the tab: Chromium is up once it answers.
	if err := chromedp.Do(tab); err != nil {
		b.Close()
		return nil, fmt.Errorf("chromium did not answer: %w%s", err, b.output())
	}
	return b, nil
}

// PID is the browser process's id.
func (b *Browser) PID() int { return b.cmd.Process.Pid }

// Close ends the browser: its whole process group, killed by the
// browser's PID (which leads the group), then the tab's context; it waits
// for the browser and removes its profile directory. It returns the
// browser's exit error only when the browser died before Close (a crash).
func (b *Browser) Close() error {
	var crashed error
	b.closeOnce.Do(func() {
		select {
		case <-b.done:
			crashed = fmt.Errorf("chromium exited early: %v%s", b.cmd.ProcessState, b.output())
		default:
		}
		// Kill first: closing the tab politely would only wait for a
		// browser about to die; with the pipe at EOF chromedp's own
		// clean-up of the tab fails at once.
		b.stopBound()
		b.kill()
		select {
		case <-b.done:
		case <-time.After(10 * time.Second):
			if crashed == nil {
				crashed = fmt.Errorf("chromium (pid %d) not reaped 10 s after SIGKILL", b.cmd.Process.Pid)
			}
		}
		b.cancelTab()
		b.stopConn()
		b.closeServer()
		os.RemoveAll(b.dataDir)
	})
	return crashed
}

// kill sends SIGKILL to the browser's process group (its PID leads it),
// unless the browser was reaped already.
func (b *Browser) kill() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.reaped {
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// output is the browser's output so far, for errors.
func (b *Browser) output() string {
	s := bytes.TrimSpace([]byte(b.out.String()))
	if len(s) == 0 {
		return ""
	}
	return "; chromium said:\n" + string(s)
}

// pipeAllocator hands chromedp the browser that Start started: chromedp
// attaches to it (a new tab) and never starts or stops a process itself.
type pipeAllocator struct {
	conn    *chromedp.PipeConn
	connCtx context.Context
}

func (a *pipeAllocator) Allocate(_ context.Context, opts ...chromedp.BrowserOption) (*chromedp.Browser, error) {
	return chromedp.NewBrowserTransport(a.connCtx, a.conn, opts...)
}

func (a *pipeAllocator) Wait() {}

// Attaches tells chromedp the browser runs already (see Start).
func (a *pipeAllocator) Attaches() bool { return true }

// limitedBuf keeps the first max bytes written to it (the browser's
// output, for errors), safe for the two writers of Stdout and Stderr.
type limitedBuf struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (l *limitedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - len(l.buf); room > 0 {
		l.buf = append(l.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}
