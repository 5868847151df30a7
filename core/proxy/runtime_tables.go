package proxy

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/netmodels/netmodels/core/proxy/runtimeapi"
	"github.com/netmodels/netmodels/core/proxy/sticktable"
)

// The stick tables as the runtime API sees them ("show table", "clear
// table"): an adapter from runtimeapi's filter words to sticktable's.

// apiTables lists the tables in HAProxy 2.6's "show table" order: the
// reverse of their declaration (HAProxy prepends each table to its list).
func (p *Proxy) apiTables() []runtimeapi.Table {
	ids := map[string]int{}
	for _, fe := range p.frontends {
		ids[fe.cfg.Name] = fe.cfg.ID
	}
	for _, be := range p.backends {
		ids[be.cfg.Name] = be.cfg.ID
	}
	ts := append([]*sticktable.Table(nil), p.Tables()...)
	sort.SliceStable(ts, func(i, j int) bool { return ids[ts[i].Name()] > ids[ts[j].Name()] })
	out := make([]runtimeapi.Table, len(ts))
	for i, t := range ts {
		out[i] = apiTable{t}
	}
	return out
}

type apiTable struct{ t *sticktable.Table }

// errEntryInUse is HAProxy's answer to clearing a key a session holds.
var errEntryInUse = errors.New("Entry currently in use, cannot remove")

func (a apiTable) Name() string           { return a.t.Name() }
func (a apiTable) Head(w io.Writer) error { return a.t.Head(w) }

// filter translates f; none: a key that cannot be an address of the
// table's type, which HAProxy answers with nothing.
func (a apiTable) filter(f runtimeapi.TableFilter) (sf *sticktable.Filter, none bool, err error) {
	sf = &sticktable.Filter{}
	if f.HasKey {
		cfg := a.t.Config()
		k, err := sticktable.ParseKey(cfg.Type, cfg.KeyLen, f.Key)
		if err != nil {
			if cfg.Type == sticktable.TypeInteger {
				return nil, false, runtimeapi.ErrInvalidKey
			}
			return nil, true, nil
		}
		sf.Key = &k
	}
	for i, d := range f.Data {
		dt, ok, _ := sticktable.LookupData(d.Type)
		if !ok {
			return nil, false, fmt.Errorf("Filter entry #%d: Unknown data type", i+1)
		}
		op, ok := sticktable.ParseOp(d.Op)
		if !ok {
			return nil, false, fmt.Errorf("Filter entry #%d: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"", i+1)
		}
		sf.Data = append(sf.Data, sticktable.DataFilter{Data: dt, Op: op, Value: d.Value})
	}
	return sf, false, nil
}

func (a apiTable) Dump(w io.Writer, f runtimeapi.TableFilter) error {
	sf, none, err := a.filter(f)
	if err != nil || none {
		return err
	}
	return a.t.Dump(w, sf)
}

// Clear removes the selected entries no session holds; a single key held
// by a session answers HAProxy's "Entry currently in use, cannot remove".
func (a apiTable) Clear(f runtimeapi.TableFilter) error {
	sf, none, err := a.filter(f)
	if err != nil || none {
		return err
	}
	if sf.Key != nil && len(sf.Data) == 0 {
		if err := a.t.Remove(*sf.Key); errors.Is(err, sticktable.ErrInUse) {
			return errEntryInUse
		} else if err != nil {
			return err
		}
		return nil
	}
	_, err = a.t.Clear(sf)
	return err
}
