package config

// option is one "option NAME" (or "no option NAME"): where it applies and
// what it does; like keyword, exactly one of set, parse, warn or ignore.
type option struct {
	in secs
	// set applies the option; on is false for "no option".
	set func(p *parser, name string, on bool)
	// parse applies an option that takes arguments (the words after its
	// name).
	parse func(p *parser, name string, on bool, args []string) error
	// warn: accepted and ignored with this text; %[1]s the option, %[2]s
	// the section.
	warn   string
	ignore bool
}

func optionList(o option, names ...string) map[string]option {
	m := make(map[string]option, len(names))
	for _, n := range names {
		m[n] = o
	}
	return m
}

func merge(ms ...map[string]option) map[string]option {
	all := map[string]option{}
	for _, m := range ms {
		for n, o := range m {
			if _, dup := all[n]; dup {
				panic("config: option " + n + " listed twice")
			}
			all[n] = o
		}
	}
	return all
}

var options = merge(
	optionList(option{in: inProxy, set: (*parser).optSplice}, "splice-auto", "splice-request", "splice-response"),
	optionList(option{in: inDefaults | inBackend, set: (*parser).optRedispatch}, "redispatch"),
	optionList(option{in: inProxy, set: (*parser).optTCPLog}, "tcplog", "httplog", "clf", "httpslog"),
	// Accepted and ignored in tcp mode.
	optionList(option{in: inProxy, ignore: true}, "dontlognull", "dontlog-normal", "log-health-checks", "tcpka", "clitcpka",
		"srvtcpka", "socket-stats", "logasap", "abortonclose", "log-separate-errors",
		"allbackups", "persist", "independent-streams", "nolinger", "tcp-smart-accept",
		"tcp-smart-connect", "contstats"),
	// They need mode http; HAProxy warns and ignores them in tcp mode.
	optionList(option{in: inProxy, warn: "option %[1]s ignored for %[2]s as it requires HTTP mode"},
		"forwardfor", "http-server-close", "httpclose", "http-keep-alive",
		"http-pretend-keepalive", "http-no-delay", "http-buffer-request", "originalto",
		"http-use-proxy-header", "accept-invalid-http-request", "accept-invalid-http-response",
		"http-ignore-probes", "http-restrict-req-hdr-names", "h1-case-adjust-bogus-client",
		"h1-case-adjust-bogus-server", "forceclose", "http-tunnel"),
	// Health-check protocols (parse_check.go), tcp-mode features.
	optionList(option{in: inDefaults | inBackend, parse: (*parser).optCheck},
		"tcp-check", "ssl-hello-chk", "smtpchk", "mysql-check", "pgsql-check", "redis-check", "ldap-check"),
	// Not implemented: the server keeps the TCP connect check.
	optionList(option{in: inProxy, warn: "option %[1]s is not supported; health checks fall back to a TCP connect check"},
		"httpchk", "spop-check", "external-check"),
)

func (p *parser) parseOption(w []string) error {
	neg := false
	if w[0] == "no" {
		if len(w) < 2 || w[1] != "option" {
			return p.errf("'no' expects 'option'")
		}
		neg, w = true, w[1:]
	}
	if len(w) < 2 {
		return p.errf("'option' expects an option name")
	}
	name := w[1]
	o, ok := options[name]
	switch {
	case !ok:
		return p.errf("unknown option '%s'", name)
	case o.ignore:
	case o.warn != "":
		p.warnf(o.warn, name, p.sec.who())
	default:
		if ok, err := p.capOK("option "+name, o.in); !ok {
			return err
		}
		if o.parse != nil {
			return o.parse(p, name, !neg, w[2:])
		}
		o.set(p, name, !neg)
	}
	return nil
}

func (p *parser) optSplice(name string, on bool) {
	s := p.sec
	set := func(req, resp, auto *bool) {
		switch name {
		case "splice-auto":
			*auto = on
		case "splice-request":
			*req = on
		default:
			*resp = on
		}
	}
	if s.kind == "defaults" {
		set(&p.def.spliceReq, &p.def.spliceResp, &p.def.spliceAuto)
		return
	}
	if s.fe != nil {
		set(&s.fe.SpliceRequest, &s.fe.SpliceResponse, &s.fe.SpliceAuto)
	}
	if s.be != nil {
		set(&s.be.SpliceRequest, &s.be.SpliceResponse, &s.be.SpliceAuto)
	}
}

func (p *parser) optRedispatch(_ string, on bool) {
	if p.sec.kind == "defaults" {
		p.def.redispatch = on
	} else {
		p.sec.be.Redispatch = on
	}
}

func (p *parser) optTCPLog(name string, on bool) {
	if name != "tcplog" {
		p.warnf("option %s not usable with %s (needs 'mode http'); falling back to 'option tcplog'", name, p.sec.who())
	}
	p.setLog(func(fe *Frontend) { fe.TCPLog = on }, func(be *Backend) { be.TCPLog = on }, func(d *defaults) { d.tcplog = on })
}
