package bench

import (
	"context"
	"strings"
	"testing"

	"github.com/netmodels/netmodels/perf/sshhost"
)

func TestParseHosts(t *testing.T) {
	h, err := ParseHosts("client=ssh://bench@192.0.2.7,server=ssh://root@198.51.100.10:2222")
	if err != nil {
		t.Fatal(err)
	}
	if h.Client != (sshhost.Target{User: "bench", Host: "192.0.2.7"}) || h.Server != (sshhost.Target{User: "root", Host: "198.51.100.10", Port: 2222}) {
		t.Fatalf("%+v", h)
	}
	if h, err := ParseHosts(""); h != nil || err != nil {
		t.Fatalf("empty: %v %v", h, err)
	}
	for in, want := range map[string]string{
		"client=ssh://a@192.0.2.7":                                                          "needs both",
		"client=ssh://a@192.0.2.7,server=ssh://a@server.example":                            "not an IP address",
		"client=ssh://a@192.0.2.7,server=ssh://a@198.51.100.10,client=ssh://b@x":            "given twice",
		"client=ssh://a@192.0.2.7,server=ssh://a@198.51.100.10,backend=ssh://a@203.0.113.5": "not supported yet",
		"client=ssh://a@192.0.2.7,server=ssh://a@198.51.100.10,proxy=ssh://a@203.0.113.5":   "unknown role",
		"client=a@192.0.2.7,server=ssh://a@198.51.100.10":                                   "want ssh://",
		"ssh://a@192.0.2.7": "want ROLE=",
	} {
		if _, err := ParseHosts(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}

func TestOnHosts(t *testing.T) {
	d := &scenarioDef{targets: []target{{name: RawTCP}, {name: "goroutine"}, {name: DPDK}, {name: HAProxy}, {name: DPDKMemif, absent: "memif"}}}
	d.res.ID, d.res.Headline = "msgr-pingpong-4KiB-unpinned", true
	h := onHosts(d)
	if h.res.ID != "msgr-pingpong-4KiB-unpinned@hosts" || h.res.Headline || d.res.ID != "msgr-pingpong-4KiB-unpinned" {
		t.Fatalf("%+v", h.res)
	}
	if h.targets[0].absent != "" || h.targets[1].absent != "" || !strings.Contains(h.targets[2].absent, "--pci") || d.targets[2].absent != "" ||
		!strings.Contains(h.targets[3].absent, "haproxy does not run over --hosts") || h.targets[4].absent != "memif" {
		t.Fatalf("targets: %+v", h.targets)
	}
}

// --hosts with an --only that selects no --hosts scenario stops before
// anything is started or connected, with one line naming what runs.
func TestHostsRefusesOtherScenarios(t *testing.T) {
	h, err := ParseHosts("client=ssh://a@192.0.2.7,server=ssh://a@198.51.100.10")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := Config{Suite: Suites["smoke"], BinDir: dir, Engines: []string{"goroutine"}, ClientEngine: "goroutine", Self: "/bin/false", PinCPU: -1, WorkDir: dir,
		Only: []string{"proxy-stream"}, Hosts: h}
	_, err = Run(context.Background(), cfg, ".")
	if err == nil || err.Error() != "--hosts runs only msgr-pingpong-4KiB-unpinned, msgr-pingpong-0B-unpinned, proxy-pingpong-64B-unpinned; --only proxy-stream selects none of them" {
		t.Fatalf("%v", err)
	}
}
