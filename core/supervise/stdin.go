package supervise

import (
	"errors"
	"fmt"
)

// WriteStdin writes b to the child's stdin pipe (Spec.Stdin): a harness
// talking to a child that reads commands there (core/cli's
// NETMODELS_WINDOW). A child that has exited makes it fail (EPIPE).
func (p *Proc) WriteStdin(b []byte) error {
	if p.stdin == nil {
		return errors.New(p.Name + ": no stdin pipe (Spec.Stdin not set)")
	}
	if _, err := p.stdin.Write(b); err != nil {
		return fmt.Errorf("%s: write stdin: %w", p.Name, err)
	}
	return nil
}
