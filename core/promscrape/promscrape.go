// Package promscrape reads the Prometheus text exposition format (what
// core's /metrics serves) with prometheus/common's expfmt parser, into
// flat samples as the text writes them: a histogram becomes its
// NAME_bucket{le=...}, NAME_sum and NAME_count series, a summary its
// quantiles, NAME_sum and NAME_count. The perf harness and the
// conformance suite read metrics through it; nobody parses the text by
// hand.
package promscrape

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MaxBody bounds a scraped body: a larger one is an error, not a
// truncated read (ours are a few KiB).
const MaxBody = 8 << 20

// Sample is one series and its value.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Key is the series as the text format writes it: NAME{a="x",b="y"},
// labels sorted by name but le and quantile last, values escaped; NAME
// alone without labels.
func (s Sample) Key() string {
	if len(s.Labels) == 0 {
		return s.Name
	}
	names := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int {
		if la, lb := a == "le" || a == "quantile", b == "le" || b == "quantile"; la != lb {
			if la {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	b.WriteString(s.Name)
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `%s="%s"`, k, escape.Replace(s.Labels[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// escape is the text format's label value escaping.
var escape = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

// Values maps each sample's Key to its value.
func Values(samples []Sample) map[string]float64 {
	out := make(map[string]float64, len(samples))
	for _, s := range samples {
		out[s.Key()] = s.Value
	}
	return out
}

// Parse reads the text format from r. Families come out sorted by name,
// each family's series in the order of the text.
func Parse(r io.Reader) ([]Sample, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("promscrape: %w", err)
	}
	var out []Sample
	for _, name := range slices.Sorted(maps.Keys(fams)) {
		out = appendFamily(out, fams[name])
	}
	return out, nil
}

// appendFamily flattens one family into samples.
func appendFamily(out []Sample, f *dto.MetricFamily) []Sample {
	name := f.GetName()
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		with := func(k, v string) map[string]string {
			l := make(map[string]string, len(labels)+1)
			for lk, lv := range labels {
				l[lk] = lv
			}
			l[k] = v
			return l
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			out = append(out, Sample{name, labels, m.GetCounter().GetValue()})
		case dto.MetricType_GAUGE:
			out = append(out, Sample{name, labels, m.GetGauge().GetValue()})
		case dto.MetricType_SUMMARY:
			sm := m.GetSummary()
			for _, q := range sm.GetQuantile() {
				out = append(out, Sample{name, with("quantile", formatFloat(q.GetQuantile())), q.GetValue()})
			}
			out = append(out, Sample{name + "_sum", labels, sm.GetSampleSum()},
				Sample{name + "_count", labels, float64(sm.GetSampleCount())})
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			h := m.GetHistogram()
			count := float64(h.GetSampleCount()) + h.GetSampleCountFloat()
			inf := false
			for _, b := range h.GetBucket() {
				inf = inf || math.IsInf(b.GetUpperBound(), 1)
				v := float64(b.GetCumulativeCount()) + b.GetCumulativeCountFloat()
				out = append(out, Sample{name + "_bucket", with("le", formatFloat(b.GetUpperBound())), v})
			}
			if !inf { // the text may leave +Inf out: it equals the count
				out = append(out, Sample{name + "_bucket", with("le", "+Inf"), count})
			}
			out = append(out, Sample{name + "_sum", labels, h.GetSampleSum()}, Sample{name + "_count", labels, count})
		default: // untyped
			out = append(out, Sample{name, labels, m.GetUntyped().GetValue()})
		}
	}
	return out
}

// formatFloat writes a bound as the text format does (1e-05, +Inf).
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Get scrapes url (an http://HOST:PORT/metrics) within ctx and parses it.
func Get(ctx context.Context, url string) ([]Sample, error) {
	return GetWith(ctx, http.DefaultClient, url)
}

// GetWith is Get through client (one that dials into another network
// namespace, say); the same body bound and errors.
func GetWith(ctx context.Context, client *http.Client, url string) ([]Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("promscrape: %w", err)
	}
	// The text format, whatever else the server could offer.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("promscrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("promscrape: GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("promscrape: GET %s: %w", url, err)
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("promscrape: GET %s: body over %d bytes", url, MaxBody)
	}
	s, err := Parse(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w (GET %s)", err, url)
	}
	return s, nil
}
