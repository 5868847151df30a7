package config

import "fmt"

// secs is a set of section kinds a keyword takes effect in. A listen
// section has both the frontend and the backend capability, so a keyword
// for either applies there.
type secs uint8

const (
	inGlobal secs = 1 << iota
	inDefaults
	inFrontend
	inBackend

	inProxy = inDefaults | inFrontend | inBackend // every proxy section
)

// kindSecs is what a section of the given kind ("global", "defaults",
// "frontend", "backend", "listen") is, as a set.
func kindSecs(kind string) secs {
	switch kind {
	case "global":
		return inGlobal
	case "defaults":
		return inDefaults
	case "frontend":
		return inFrontend
	case "backend":
		return inBackend
	case "listen":
		return inFrontend | inBackend
	}
	return 0
}

// keyword is one entry of the keyword table: a section keyword, where it
// applies, and what it does. Exactly one of parse, warn, fail or ignore
// says what a line with it does.
type keyword struct {
	name string
	// in: the sections it takes effect in; elsewhere (in the same family,
	// global or proxy) it meets noCap.
	in secs
	// label names the keyword in capability messages; "" is the quoted
	// name.
	label string
	// plural: the label is plural ("'tcp-request' rules are ...").
	plural bool
	// strict: in a frontend or backend lacking the capability the line is
	// an error (HAProxy's ALERT), not a warning.
	strict bool
	// parse reads the line (w[0] is the keyword).
	parse func(p *parser, w []string) error
	// warn and fail are HAProxy-style texts for keywords accepted but not
	// implemented (the line is ignored with a warning) or refused (an
	// error). Verbs: '%[1]s' the keyword, %[2]s the section ("proxy 'x'").
	warn, fail string
	// ignore: accepted and ignored, silently (it changes nothing for a
	// TCP proxy here).
	ignore bool
}

// keywordIndex holds the table by name; a name may have one entry for the
// global section and one for proxy sections (maxconn, log, stats).
type keywordIndex map[string][]*keyword

func index(tables ...[]keyword) keywordIndex {
	ix := keywordIndex{}
	for _, t := range tables {
		for i := range t {
			k := &t[i]
			for _, o := range ix[k.name] {
				if o.in&k.in != 0 {
					panic("config: keyword " + k.name + " has two entries for one section")
				}
			}
			ix[k.name] = append(ix[k.name], k)
		}
	}
	return ix
}

// lookup finds kw's entry for a section of kind: the one that applies
// there (ok), else one for the same family (global or proxy) that lacks
// the capability (ok false), else nil: an unknown keyword.
func (ix keywordIndex) lookup(kw, kind string) (k *keyword, ok bool) {
	here := kindSecs(kind)
	family := inProxy
	if here == inGlobal {
		family = inGlobal
	}
	for _, e := range ix[kw] {
		if e.in&here != 0 {
			return e, true
		}
	}
	for _, e := range ix[kw] {
		if e.in&family != 0 {
			return e, false
		}
	}
	return nil, false
}

// run applies one line whose keyword entry is k.
func (k *keyword) run(p *parser, w []string) error {
	switch {
	case k.parse != nil:
		return k.parse(p, w)
	case k.fail != "":
		return p.errf(k.fail, k.name, p.who())
	case k.warn != "":
		p.warnf(k.warn, k.name, p.who())
	}
	return nil
}

// who names the current section in messages.
func (p *parser) who() string {
	if p.sec == nil {
		return p.kind + " section"
	}
	return p.sec.who()
}

// noCap reports a keyword used in a section without the capability it
// needs: an error in a defaults section (or for a strict keyword), else a
// warning and the line is ignored (HAProxy's warnifnotcap).
func (p *parser) noCap(k *keyword) error {
	s := p.sec
	label, strict := k.quoted(), k.strict
	switch s.kind {
	case "defaults":
		if k.plural {
			return p.errf("%s are not supported in a defaults section", label)
		}
		return p.errf("%s is not supported in a defaults section", label)
	case "frontend":
		if strict {
			return p.errf("%s not allowed because frontend '%s' has no backend capability", label, s.name)
		}
		p.warnf("%s ignored because frontend '%s' has no backend capability", label, s.name)
	case "backend":
		if strict {
			return p.errf("%s not allowed because backend '%s' has no frontend capability", label, s.name)
		}
		p.warnf("%s ignored because backend '%s' has no frontend capability", label, s.name)
	}
	return nil
}

// capOK checks a sub-keyword's sections (a timeout, an option) in the
// current proxy section; false: the line is done (warned about or err).
// label names it ("timeout server").
func (p *parser) capOK(label string, in secs) (bool, error) {
	if in&kindSecs(p.sec.kind) != 0 {
		return true, nil
	}
	return false, p.noCap(&keyword{name: label})
}

func (k *keyword) quoted() string {
	if k.label != "" {
		return k.label
	}
	return fmt.Sprintf("'%s'", k.name)
}

// Helpers that build table entries for lists of keywords.

func ignored(in secs, names ...string) []keyword {
	t := make([]keyword, len(names))
	for i, n := range names {
		t[i] = keyword{name: n, in: in, ignore: true}
	}
	return t
}

func warned(in secs, text string, names ...string) []keyword {
	t := make([]keyword, len(names))
	for i, n := range names {
		t[i] = keyword{name: n, in: in, warn: text}
	}
	return t
}

func refused(in secs, text string, names ...string) []keyword {
	t := make([]keyword, len(names))
	for i, n := range names {
		t[i] = keyword{name: n, in: in, fail: text}
	}
	return t
}

func join(ts ...[]keyword) []keyword {
	var all []keyword
	for _, t := range ts {
		all = append(all, t...)
	}
	return all
}

// HAProxy's texts for keywords accepted but not implemented.
const (
	textNeedsHTTP = "'%[1]s' ignored for %[2]s as it requires HTTP mode"
	textNotYet    = "'%[1]s' is not supported yet and is ignored for %[2]s"
)

// globalKeywords are the global section's.
var globalKeywords = join([]keyword{
	{name: "maxconn", in: inGlobal, parse: (*parser).globalMaxConn},
	{name: "tune.bufsize", in: inGlobal, parse: (*parser).globalBufSize},
	{name: "hard-stop-after", in: inGlobal, parse: (*parser).globalHardStopAfter},
	{name: "log", in: inGlobal, parse: (*parser).globalLog},
	{name: "stats", in: inGlobal, parse: (*parser).globalStats},
	{name: "maxconnrate", in: inGlobal, warn: "'%[1]s' is not supported and is ignored: connections are accepted at any rate"},
	{name: "maxsessrate", in: inGlobal, warn: "'%[1]s' is not supported and is ignored: sessions are accepted at any rate"},
	{name: "ca-base", in: inGlobal, parse: (*parser).globalCABase},
	{name: "crt-base", in: inGlobal, parse: (*parser).globalCrtBase},
	{name: "ssl-server-verify", in: inGlobal, parse: (*parser).globalSSLServerVerify},
	{name: "ssl-default-bind-options", in: inGlobal, parse: (*parser).globalDefaultBind},
	{name: "ssl-default-bind-ciphers", in: inGlobal, parse: (*parser).globalDefaultBind},
	{name: "ssl-default-bind-ciphersuites", in: inGlobal, parse: (*parser).globalDefaultBind},
	{name: "ssl-default-server-options", in: inGlobal, parse: (*parser).globalDefaultServer},
	{name: "ssl-default-server-ciphers", in: inGlobal, parse: (*parser).globalDefaultServer},
	{name: "ssl-default-server-ciphersuites", in: inGlobal, parse: (*parser).globalDefaultServer},
},
	// They do not change what a TCP proxy does in this implementation
	// (process management, TLS, threads…; spec/proxy.md §2).
	ignored(inGlobal, "daemon", "nbthread", "nbproc", "user", "group",
		"uid", "gid", "chroot", "pidfile", "ulimit-n", "master-worker",
		"spread-checks", "quiet",
		"description", "node", "cpu-map", "log-send-hostname", "log-tag",
		"insecure-fork-wanted", "noepoll", "nopoll", "nosplice", "nogetaddrinfo",
		"noreuseport", "busy-polling", "maxpipes",
		"grace", "unix-bind", "external-check", "localpeer", "expose-experimental-directives",
		"tune.maxrewrite", "tune.ssl.default-dh-param", "tune.ssl.cachesize", "tune.maxaccept",
		"tune.maxpollevents", "tune.rcvbuf.client", "tune.rcvbuf.server", "tune.sndbuf.client",
		"tune.sndbuf.server", "tune.pipesize", "tune.recv_enough", "tune.runqueue-depth",
		"tune.idle-pool.shared", "tune.comp.maxlevel", "tune.http.maxhdr", "tune.h2.max-concurrent-streams",
		"server-state-file", "server-state-base", "set-dumpable", "strict-limits",
		"h1-case-adjust"),
)

// proxyKeywords are those of defaults, frontend, backend and listen.
var proxyKeywords = join([]keyword{
	{name: "mode", in: inProxy, parse: (*parser).parseMode},
	{name: "bind", in: inFrontend, label: "'bind'", parse: (*parser).parseBind},
	// HAProxy 2.6 rejects a server in a frontend (an ALERT, not a warning).
	{name: "server", in: inBackend, label: "'server'", strict: true, parse: (*parser).parseServerLine},
	{name: "default-server", in: inDefaults | inBackend, parse: (*parser).parseDefaultServer},
	{name: "balance", in: inDefaults | inBackend, parse: (*parser).parseBalance},
	{name: "timeout", in: inProxy, parse: (*parser).parseTimeout}, // each timeout has its own sections
	{name: "maxconn", in: inDefaults | inFrontend, parse: (*parser).parseMaxConn},
	{name: "retries", in: inDefaults | inBackend, parse: (*parser).parseRetries},
	{name: "default_backend", in: inDefaults | inFrontend, parse: (*parser).parseDefaultBackend},
	{name: "use_backend", in: inFrontend, parse: (*parser).parseUseBackend},
	// In a backend the rule is checked, then ignored with a warning.
	{name: "tcp-request", in: inFrontend | inBackend, label: "'tcp-request' rules", plural: true, parse: (*parser).parseTCPRequest},
	{name: "acl", in: inFrontend | inBackend, label: "'acl'", parse: (*parser).parseACL},
	{name: "option", in: inProxy, parse: (*parser).parseOption},
	{name: "no", in: inProxy, parse: (*parser).parseOption},
	{name: "log", in: inProxy, parse: (*parser).parseLog},
	{name: "disabled", in: inProxy, warn: "'%[1]s': disabled proxies are not supported; the section stays enabled"},
	// tcp-check rules: a tcp-mode health check (parse_check.go).
	{name: "tcp-check", in: inDefaults | inBackend, label: "'tcp-check'", parse: (*parser).parseTCPCheck},
	{name: "hash-type", in: inDefaults | inBackend, parse: (*parser).parseHashType},
	{name: "tcp-response", in: inProxy, fail: "'%[1]s' rules (response inspection) are not supported"},
	// HAProxy 2.6's own texts for the timeouts it removed.
	{name: "clitimeout", in: inProxy, fail: "the '%[1]s' directive is not supported anymore since HAProxy 2.1. Use 'timeout client'."},
	{name: "srvtimeout", in: inProxy, fail: "the '%[1]s' directive is not supported anymore since HAProxy 2.1. Use 'timeout server'."},
	{name: "contimeout", in: inProxy, fail: "the '%[1]s' directive is not supported anymore since HAProxy 2.1. Use 'timeout connect'."},
	{name: "source", in: inProxy, fail: "'%[1]s' (choosing the source address of server connections) is not supported"},
	{name: "dispatch", in: inProxy, fail: "'%[1]s' (a backend address without 'server' lines) is not supported; use a 'server' line"},
	{name: "transparent", in: inProxy, fail: "'%[1]s' (connecting to the client's original destination) is not supported"},
	{name: "usesrc", in: inProxy, fail: "'%[1]s' only allowed after a 'source' statement."},
	// Ignoring these would change what the proxy does without a word.
	{name: "rate-limit", in: inProxy, warn: "'%[1]s' is not supported and is ignored for %[2]s: sessions are accepted at any rate"},
	{name: "persist", in: inProxy, warn: "'%[1]s' (RDP cookie persistence) is not supported and is ignored for %[2]s"},
	{name: "filter", in: inProxy, fail: "'%[1]s' (stream filters: trace, spoe, compression, cache, bwlim) is not supported"},
	{name: "stick-table", in: inFrontend | inBackend, label: "'stick-table'", parse: (*parser).parseStickTable},
	{name: "stick", in: inBackend, label: "'stick'", parse: (*parser).parseStick},
},
	ignored(inProxy, "description", "id", "enabled", "fullconn",
		"log-format", "log-tag", "backlog", "hash-balance-factor",
		"email-alert", "load-server-state-from-file", "server-state-file-name", "unique-id-format",
		"error-log-format", "log-format-sd"),
	warned(inProxy, textNeedsHTTP, "http-request", "http-response", "http-after-response", "http-reuse",
		"http-check", "errorfile", "errorloc", "errorloc302", "errorloc303",
		"errorfiles", "compression", "cookie", "capture", "redirect",
		"monitor-uri", "monitor", "stats", "http-error", "unique-id-header"),
)

var keywords = index(globalKeywords, proxyKeywords)

// parseKeyword applies one line inside a global or proxy section.
func (p *parser) parseKeyword(w []string) error {
	k, ok := keywords.lookup(w[0], p.kind)
	switch {
	case k == nil && p.kind == "global":
		return p.errf("unknown keyword %q in 'global' section", w[0])
	case k == nil:
		return p.errf("unknown keyword %q in '%s' section", w[0], p.kind)
	case !ok:
		return p.noCap(k)
	}
	return k.run(p, w)
}

// ignoredSections do nothing for a TCP proxy: skipped with a warning so a
// configuration that has them still loads.
var ignoredSections = map[string]bool{
	"peers": true, "resolvers": true, "userlist": true, "mailers": true, "program": true,
	"http-errors": true, "ring": true, "cache": true,
}
