package config

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// env reads variables and collects every problem, so that one run of the
// program reports all configuration errors at once.
type env struct {
	vars map[string]string
	errs []error
}

func newEnv(environ []string) *env {
	e := &env{vars: map[string]string{}}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			e.vars[k] = v
		}
	}
	return e
}

func (e *env) errorf(name, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (e *env) err() error { return errors.Join(e.errs...) }

func (e *env) lookup(name string) (string, bool) {
	v, ok := e.vars[name]
	return v, ok && v != ""
}

func (e *env) str(name, def string) string {
	if v, ok := e.lookup(name); ok {
		return v
	}
	return def
}

func (e *env) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(e.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	e.errorf(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

func (e *env) port(name string, def int) int {
	v, ok := e.lookup(name)
	if !ok {
		return def
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		e.errorf(name, "%q is not a TCP port (1-65535)", v)
		return def
	}
	return p
}

func (e *env) intRange(name string, def, lo, hi int) int {
	v, ok := e.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		e.errorf(name, "%q is not a whole number from %d to %d", v, lo, hi)
		return def
	}
	return n
}

func (e *env) boolean(name string, def bool) bool {
	v, ok := e.lookup(name)
	if !ok {
		return def
	}
	b, ok := parseBool(v)
	if !ok {
		e.errorf(name, "%q is not true or false", v)
		return def
	}
	return b
}

func parseBool(v string) (value, ok bool) {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true, true
	case "false", "0", "no", "off":
		return false, true
	}
	return false, false
}

func (e *env) duration(name string, def time.Duration) time.Duration {
	v, ok := e.lookup(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		if secs, err2 := strconv.Atoi(v); err2 == nil {
			d, err = time.Duration(secs)*time.Second, nil
		}
	}
	if err != nil || d < 0 {
		e.errorf(name, "%q is not a duration (e.g. 30s, 5m, or a number of seconds)", v)
		return def
	}
	return d
}

// size reads a byte count: 8388608, 8MiB, 8M, 512KiB, 1GiB.
func (e *env) size(name string, def int64) int64 {
	v, ok := e.lookup(name)
	if !ok {
		return def
	}
	n, err := ParseSize(v)
	if err != nil {
		e.errorf(name, "%v", err)
		return def
	}
	return n
}

// ParseSize reads a byte count with an optional K/M/G suffix (powers of 1024).
func ParseSize(v string) (int64, error) {
	s := strings.TrimSpace(strings.ToUpper(v))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 8MiB, 512KiB, 1GiB or a number of bytes)", v)
	}
	return n * mult, nil
}

// indexed reads aioftps3's list variables PREFIX__i__FIELD into one map of
// fields per index, in index order.
func (e *env) indexed(prefix string) []map[string]string {
	byIndex := map[int]map[string]string{}
	for k, v := range e.vars {
		rest, ok := strings.CutPrefix(k, prefix+"__")
		if !ok {
			continue
		}
		idx, field, ok := strings.Cut(rest, "__")
		i, err := strconv.Atoi(idx)
		if !ok || err != nil || i < 0 {
			e.errorf(k, "expected %s__<number>__<FIELD>", prefix)
			continue
		}
		if byIndex[i] == nil {
			byIndex[i] = map[string]string{"": strconv.Itoa(i)}
		}
		byIndex[i][field] = v
	}
	idxs := make([]int, 0, len(byIndex))
	for i := range byIndex {
		idxs = append(idxs, i)
	}
	sort.Ints(idxs)
	out := make([]map[string]string, 0, len(idxs))
	for _, i := range idxs {
		out = append(out, byIndex[i])
	}
	return out
}

func parseCIDR(s string) (*net.IPNet, error) {
	if !strings.Contains(s, "/") {
		s += "/32"
	}
	_, n, err := net.ParseCIDR(s)
	return n, err
}
