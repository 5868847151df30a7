package sticktable

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxFilters is how many "data.X op V" filters one command takes
// (HAProxy's STKTABLE_FILTER_LEN).
const MaxFilters = 4

// Errors of ParseFilter, with HAProxy 2.6's CLI texts (without the final
// newline the CLI adds).
var (
	ErrKeyExpected = errors.New("Key value expected")
	ErrInvalidKey  = errors.New("Invalid key")
)

// ParseFilter reads the words after the table name of the runtime API's
// "show table NAME ..." and "clear table NAME ...": nothing (every
// entry), "key K", or up to MaxFilters "data.X op V" triples. Errors
// carry HAProxy's texts ("Filter entry #1: Unknown data type", ...); an
// argument that is neither form is ErrArgs for the caller to word as
// HAProxy does per command.
func (t *Table) ParseFilter(words []string) (*Filter, error) {
	if len(words) == 0 {
		return nil, nil
	}
	switch {
	case words[0] == "key":
		if len(words) < 2 || words[1] == "" {
			return nil, ErrKeyExpected
		}
		k, err := t.ParseKey(words[1])
		if err != nil {
			return nil, ErrInvalidKey
		}
		return &Filter{Key: &k}, nil
	case strings.HasPrefix(words[0], "data."):
	default:
		return nil, ErrArgs
	}
	f := &Filter{}
	i := 0
	for ; i < MaxFilters && 3*i < len(words); i++ {
		w := words[3*i:]
		if i > 0 && w[0] == "" {
			break
		}
		n := i + 1
		d, ok, _ := LookupData(strings.TrimPrefix(w[0], "data."))
		if !ok || !strings.HasPrefix(w[0], "data.") {
			return nil, fmt.Errorf("Filter entry #%d: Unknown data type", n)
		}
		if !t.cfg.Stores.Has(d) || d == ServerKey {
			return nil, &FilterError{Index: n}
		}
		if len(w) < 2 {
			return nil, fmt.Errorf("Filter entry #%d: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"", n)
		}
		op, ok := ParseOp(w[1])
		if !ok {
			return nil, fmt.Errorf("Filter entry #%d: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"", n)
		}
		if len(w) < 3 {
			return nil, fmt.Errorf("Filter entry #%d: Require a valid integer value to compare against", n)
		}
		v, err := strconv.ParseInt(w[2], 10, 64)
		if err != nil || strings.HasPrefix(w[2], "+") {
			return nil, fmt.Errorf("Filter entry #%d: Require a valid integer value to compare against", n)
		}
		f.Data = append(f.Data, DataFilter{Data: d, Op: op, Value: v})
	}
	if 3*i < len(words) && words[3*i] != "" {
		// HAProxy counts words from "show" (the 4th is the first filter).
		return nil, fmt.Errorf("Detected extra data in filter, %dth word of input, after '%s'", 3+3*i+1, words[3*i-1])
	}
	return f, nil
}

// ErrArgs: the words after the table name are neither "key K" nor data
// filters; HAProxy answers per command ("Optional argument only supports
// ..." for show, "Required arguments: ..." for clear).
var ErrArgs = errors.New("unsupported table arguments")
