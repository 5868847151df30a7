package headless

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"image/png"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Report is what the browser found on a page.
type Report struct {
	// The layout viewport: window.innerWidth, the root element's
	// clientWidth (innerWidth less a vertical scrollbar) and scrollWidth
	// (wider than clientWidth when the page scrolls sideways).
	InnerWidth  int `json:"innerWidth"`
	ClientWidth int `json:"clientWidth"`
	ScrollWidth int `json:"scrollWidth"`
	// Every <img>, <object> and outer inline <svg> of the page.
	Images []Image `json:"images"`
	// The elements that make the page wider than the window, outermost
	// first: the ones whose box (or content, for wide text) passes the
	// window's right edge while their parent's does not.
	Overflow []Overflow `json:"overflow"`
	// Failed lists the requests the page made that the server could not
	// answer ("GET /x.svg: 404").
	Failed []string `json:"-"`
}

// Image is one image of the page.
type Image struct {
	Kind   string `json:"kind"` // img, object, svg
	Src    string `json:"src"`
	Loaded bool   `json:"loaded"`
	Width  int    `json:"width"` // natural width (img), rendered width (object, svg)
}

// Overflow is one element that passes the window's right edge.
type Overflow struct {
	Element string `json:"element"` // tag#id.class "text…"
	Right   int    `json:"right"`   // its right edge (CSS px from the page's left)
	Width   int    `json:"width"`   // its box's width
	Content bool   `json:"content"` // its content is wider than its box (long text, a wide image)
}

// Problems lists what is wrong with the page in words; empty when every
// image loaded, every request was served and nothing passes the window's
// width.
func (r *Report) Problems() []string {
	var p []string
	for _, f := range r.Failed {
		p = append(p, "request failed: "+f)
	}
	for _, im := range r.Images {
		if !im.Loaded {
			p = append(p, fmt.Sprintf("%s %q did not load", im.Kind, im.Src))
		}
	}
	if r.ScrollWidth > r.ClientWidth || r.ScrollWidth > r.InnerWidth {
		p = append(p, fmt.Sprintf("page is %d px wide in a %d px window (%d px without the scrollbar)", r.ScrollWidth, r.InnerWidth, r.ClientWidth))
	}
	for _, o := range r.Overflow {
		what := "box"
		if o.Content {
			what = "content"
		}
		p = append(p, fmt.Sprintf("overflows: %s: %s %d px wide reaches x=%d", o.Element, what, o.Width, o.Right))
	}
	return p
}

//go:embed check.js
var checkJS string

// Load serves dir on 127.0.0.1 and loads page (a file name in it) in the
// tab, returning after the page's load event (every image fetched or
// failed). The folder stays served until the next Load or Close.
func (b *Browser) Load(dir, page string) error {
	b.closeServer()
	s, err := serve(dir)
	if err != nil {
		return err
	}
	b.srv = s
	if err := chromedp.Do(b.tab, chromedp.Navigate(s.url(page))); err != nil {
		return fmt.Errorf("load %s: %w%s", page, err, b.output())
	}
	return nil
}

// Check reports the loaded page's images, width and overflow, and the
// requests it made that failed (see Report).
func (b *Browser) Check() (*Report, error) {
	if b.srv == nil {
		return nil, errors.New("check: no page loaded")
	}
	r, err := chromedp.Run(b.tab, chromedp.Evaluate[Report](checkJS))
	if err != nil {
		return nil, fmt.Errorf("check: %w%s", err, b.output())
	}
	r.Failed = b.srv.failures()
	return &r, nil
}

// sectionJS finds the region to shoot for a CSS selector: the element's
// box, or for a heading its whole section (down to the next heading of
// its rank or higher), across the page's width; null when nothing matches.
const sectionJS = `((sel) => {
  const el = document.querySelector(sel);
  if (!el) return null;
  const r = el.getBoundingClientRect();
  const top = r.top + scrollY;
  let bottom = r.bottom + scrollY;
  const m = /^H([1-6])$/.exec(el.tagName);
  if (m) {
    const hs = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')];
    const next = hs.slice(hs.indexOf(el) + 1).find(h => +h.tagName[1] <= +m[1]);
    bottom = next ? next.getBoundingClientRect().top + scrollY : document.documentElement.scrollHeight;
  }
  const y = Math.max(0, top - 8);
  return {x: 0, y: y, width: document.documentElement.clientWidth, height: Math.min(bottom - y, 8000), scale: 1};
})(%q)`

// Screenshot returns a PNG of the loaded page's part that the CSS
// selector sel picks (an element; for a heading, its section), else of
// the window (the page's first screen); an error when the PNG is blank
// (see CheckPNG).
func (b *Browser) Screenshot(sel string) ([]byte, error) {
	var clip *page.Viewport
	if sel != "" {
		var err error
		clip, err = chromedp.Run(b.tab, chromedp.Evaluate[*page.Viewport](fmt.Sprintf(sectionJS, sel)))
		if err != nil {
			return nil, fmt.Errorf("screenshot: look for %s: %w", sel, err)
		}
		if clip != nil && (clip.Width < 1 || clip.Height < 1) {
			return nil, fmt.Errorf("screenshot: %s is empty (%gx%g)", sel, clip.Width, clip.Height)
		}
	}
	img, err := chromedp.Run(b.tab, chromedp.Action[[]byte](func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		// A clip may reach below the window; without one, the window.
		yes, beyond := true, clip != nil
		r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Clip: clip, CaptureBeyondViewport: &beyond, FromSurface: &yes})
		return r.Data, err
	}))
	if err != nil {
		return nil, fmt.Errorf("screenshot: %w%s", err, b.output())
	}
	if err := CheckPNG(img); err != nil {
		return nil, fmt.Errorf("screenshot: %w", err)
	}
	return img, nil
}

func (b *Browser) closeServer() {
	if b.srv != nil {
		b.srv.close()
		b.srv = nil
	}
}

// CheckPNG returns an error unless b is a PNG with something drawn on it:
// at least two colours (a blank page is one).
func CheckPNG(b []byte) error {
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not a PNG: %w", err)
	}
	r := img.Bounds()
	if r.Empty() {
		return errors.New("empty PNG")
	}
	first := img.At(r.Min.X, r.Min.Y)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.At(x, y) != first {
				return nil
			}
		}
	}
	return fmt.Errorf("blank %dx%d PNG (one colour)", r.Dx(), r.Dy())
}

// server serves a folder on 127.0.0.1 (the browser's only network peer)
// and records the requests it could not answer. The page loads over HTTP,
// not file://, so that <object> documents are same-origin and checkable.
type server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}

	mu     sync.Mutex
	failed []string
}

func serve(dir string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("serve %s: %w", dir, err)
	}
	s := &server{ln: ln, done: make(chan struct{})}
	files := http.FileServer(http.Dir(dir))
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		files.ServeHTTP(rec, r)
		// The browser asks for a favicon by itself; the page has none.
		if rec.status >= 400 && r.URL.Path != "/favicon.ico" {
			s.mu.Lock()
			s.failed = append(s.failed, fmt.Sprintf("%s %s: %d", r.Method, r.URL.Path, rec.status))
			s.mu.Unlock()
		}
	})}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

func (s *server) url(page string) string {
	return "http://" + s.ln.Addr().String() + "/" + (&url.URL{Path: strings.TrimPrefix(page, "/")}).EscapedPath()
}

func (s *server) failures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.failed...)
}

func (s *server) close() {
	// A request the browser left open must not hold us: give the
	// server a moment to finish, then drop what is left.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		s.srv.Close()
	}
	<-s.done
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
