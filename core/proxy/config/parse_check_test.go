package config

import (
	"testing"

	"github.com/netmodels/netmodels/core/proxy/tcpcheck"
)

// Health-check options and rules become Backend.Check; defaults pass
// the option and their rules on to backends without rules of their own.
func TestParseChecks(t *testing.T) {
	c, err := parse(t, `
defaults
    mode tcp
    timeout connect 1s
    timeout client 1s
    timeout server 1s
    option tcp-check
    tcp-check send PING\r\n
    tcp-check expect string +PONG
    hash-type consistent
listen l
    bind :1
    server a 1.2.3.4:5 check
backend own
    tcp-check connect port 6380
    tcp-check send info\ replication\r\n
    tcp-check expect string role:master
    server b 1.2.3.4:5 check id 7 on-marked-down shutdown-sessions
    server c 1.2.3.4:6 check-send-proxy on-marked-up shutdown-backup-sessions
    server d 1.2.3.4:7 id 1
backend redis
    option redis-check
    hash-type map-based sdbm avalanche
    balance first
backend mysql
    option mysql-check user haproxy pre-41
backend none
    no option tcp-check
backend smtp
    option smtpchk EHLO example.org
    balance static-rr
`)
	if err != nil {
		t.Fatal(err)
	}
	rules := func(name string) []tcpcheck.Rule {
		be := c.Backend(name)
		if be.Check == nil {
			return nil
		}
		return be.Check.Rules
	}
	if r := rules("l"); len(r) != 3 || !r[0].Connect.Implicit || string(r[1].Send) != "PING\r\n" || r[2].Expect.Pattern != "+PONG" {
		t.Errorf("inherited rules: %+v", r)
	}
	if r := rules("own"); len(r) != 3 || r[0].Connect.Port != 6380 || string(r[1].Send) != "info replication\r\n" {
		t.Errorf("own rules: %+v", r)
	}
	if be := c.Backend("redis"); be.Check == nil || be.Check.Name != "redis-check" || be.Balance != First || be.HashType != MapBased || !be.HashAvalanche {
		t.Errorf("redis: %+v", be)
	}
	if be := c.Backend("l"); be.HashType != Consistent || !be.HashAvalanche {
		t.Errorf("hash-type consistent alone implies avalanche: %+v", be)
	}
	if be := c.Backend("mysql"); be.Check == nil || be.Check.Name != "mysql-check" {
		t.Errorf("mysql: %+v", be.Check)
	}
	if be := c.Backend("none"); be.Check != nil {
		t.Errorf("no option tcp-check: %+v", be.Check)
	}
	if be := c.Backend("smtp"); be.Check == nil || be.Check.Name != "smtpchk" || be.Balance != StaticRR {
		t.Errorf("smtp: %+v", be)
	}
	own := c.Backend("own").Servers
	if own[0].ID != 7 || own[1].ID != 2 || own[2].ID != 1 {
		t.Errorf("ids: %d %d %d, want 7 2 1", own[0].ID, own[1].ID, own[2].ID)
	}
	if !own[0].ShutdownOnDown || !own[1].ShutdownBackupOnUp || !own[1].CheckSendProxy {
		t.Errorf("server options: %+v %+v", own[0], own[1])
	}
}

func TestChecksSendProxy(t *testing.T) {
	for _, tc := range []struct {
		s    Server
		want int
	}{
		{Server{}, 0},
		{Server{SendProxy: 1}, 1},
		{Server{SendProxy: 2}, 2},
		{Server{SendProxy: 1, CheckPort: 9}, 0},
		{Server{SendProxy: 2, CheckAddr: "1.2.3.4"}, 0},
		{Server{CheckSendProxy: true, CheckPort: 9}, 1},
		{Server{CheckSendProxy: true, SendProxy: 2, CheckPort: 9}, 2},
	} {
		if got := tc.s.ChecksSendProxy(); got != tc.want {
			t.Errorf("%+v: %d, want %d", tc.s, got, tc.want)
		}
	}
}
