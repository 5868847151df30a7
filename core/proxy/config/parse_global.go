package config

// The global section's keywords (the table is in keywords.go).

func (p *parser) globalMaxConn(w []string) error {
	if len(w) != 2 {
		return p.errf("'maxconn' expects one integer argument")
	}
	n, err := parseInt(w[1], 1<<30)
	if err != nil {
		return p.errf("maxconn: %v", err)
	}
	p.cfg.Global.MaxConn = n
	return nil
}

func (p *parser) globalBufSize(w []string) error {
	if len(w) != 2 {
		return p.errf("'tune.bufsize' expects one size argument")
	}
	n, err := parseSize(w[1])
	if err != nil {
		return p.errf("tune.bufsize: %v", err)
	}
	if n < MinBufSize {
		p.warnf("tune.bufsize %d is below the supported minimum, using %d", n, MinBufSize)
		n = MinBufSize
	}
	if n > 1<<26 {
		return p.errf("tune.bufsize: %d is too large (at most 64m)", n)
	}
	p.cfg.Global.BufSize = n
	return nil
}

func (p *parser) globalHardStopAfter(w []string) error {
	if len(w) != 2 {
		return p.errf("'hard-stop-after' expects one time argument")
	}
	d, err := parseTime(w[1])
	if err != nil {
		return p.errf("hard-stop-after: %v", err)
	}
	p.cfg.Global.HardStopAfter = d
	return nil
}

func (p *parser) globalLog(w []string) error {
	if len(w) < 2 {
		return p.errf("'log' expects an address and a facility")
	}
	p.cfg.Global.Log = true
	return nil
}
