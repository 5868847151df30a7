package promscrape

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string // Key=value, in order
	}{
		{"gauge-counter-untyped", `# HELP g A gauge.
# TYPE g gauge
g{b="2",a="1"} 3
# TYPE c counter
c_total 7
u 1.5e+06
`, []string{`c_total=7`, `g{a="1",b="2"}=3`, `u=1.5e+06`}},
		{"histogram", `# TYPE h histogram
h_bucket{t="x",le="1e-05"} 2
h_bucket{t="x",le="+Inf"} 5
h_sum{t="x"} 0.5
h_count{t="x"} 5
`, []string{`h_bucket{t="x",le="1e-05"}=2`, `h_bucket{t="x",le="+Inf"}=5`, `h_sum{t="x"}=0.5`, `h_count{t="x"}=5`}},
		{"histogram-without-inf", `# TYPE h histogram
h_bucket{le="1"} 2
h_sum 1
h_count 4
`, []string{`h_bucket{le="1"}=2`, `h_bucket{le="+Inf"}=4`, `h_sum=1`, `h_count=4`}},
		{"untyped-buckets", `w_bucket{le="0.5"} 1
w_bucket{le="+Inf"} 3
`, []string{`w_bucket{le="0.5"}=1`, `w_bucket{le="+Inf"}=3`}},
		{"summary", `# TYPE s summary
s{quantile="0.5"} 4
s_sum 10
s_count 3
`, []string{`s{quantile="0.5"}=4`, `s_sum=10`, `s_count=3`}},
		{"escaped", `e{v="a\"b\\c\nd"} 1
`, []string{`e{v="a\"b\\c\nd"}=1`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(strings.NewReader(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range s {
				got = append(got, fmt.Sprintf("%s=%g", x.Key(), x.Value))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	if _, err := Parse(strings.NewReader("g{a=1} 2\n")); err == nil {
		t.Error("a malformed label was accepted")
	}
}

// TestGetPromhttp reads what core's servers serve (client_golang's
// promhttp) back to the values set.
func TestGetPromhttp(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "msgr_throttle_current"}, []string{"throttle"})
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wake_seconds", Buckets: []float64{1e-5, 2e-5}}, []string{"throttle"})
	reg.MustRegister(g, h)
	g.WithLabelValues("policy_bytes_client").Set(65536)
	h.WithLabelValues("policy_bytes_client").Observe(1.5e-5)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Get(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	v := Values(s)
	for k, want := range map[string]float64{
		`msgr_throttle_current{throttle="policy_bytes_client"}`:          65536,
		`wake_seconds_bucket{throttle="policy_bytes_client",le="1e-05"}`: 0,
		`wake_seconds_bucket{throttle="policy_bytes_client",le="2e-05"}`: 1,
		`wake_seconds_bucket{throttle="policy_bytes_client",le="+Inf"}`:  1,
		`wake_seconds_count{throttle="policy_bytes_client"}`:             1,
	} {
		if got, ok := v[k]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v; all: %v", k, got, ok, want, v)
		}
	}
}

func TestGetLimits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		line := []byte("# " + strings.Repeat("x", 1021) + "\n") // 1 KiB of comment
		for range MaxBody/len(line) + 1 {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	if _, err := Get(ctx, srv.URL+"/big"); err == nil || !strings.Contains(err.Error(), "body over") {
		t.Errorf("body over MaxBody: %v", err)
	}
	if _, err := Get(ctx, srv.URL+"/missing"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}
}

// FuzzParse: any input parses or fails without panicking, and what parses
// flattens into named samples.
func FuzzParse(f *testing.F) {
	f.Add("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_count 2\nh_sum 1\n")
	f.Add("g{a=\"b\"} NaN\n# comment\n\n{} 1\n")
	f.Add("# TYPE s summary\ns{quantile=\"0.5\"} 1\n")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse(strings.NewReader(text))
		if err != nil {
			return
		}
		for _, x := range s {
			if x.Name == "" || x.Key() == "" {
				t.Fatalf("unnamed sample %+v from %q", x, text)
			}
		}
	})
}
