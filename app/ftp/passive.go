package ftp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// passiveAddrs chooses the IPv4 address sent in PASV replies, per client
// network (aioftps3's FTP_DATA_CIDR_TO_DOMAINS): the first rule whose
// network holds the client's address wins; an IP literal is used as is, a
// name is resolved and a Lookup is asked (each answer cached for a minute,
// and the last good answer kept while a new one fails). With no match, the
// address the client connected to is used. EPSV replies carry no address
// and need none of this.
type passiveAddrs struct {
	rules    []PassiveRule
	resolver *net.Resolver

	mu    sync.Mutex
	cache map[int]cachedAddr // by rule index
}

type cachedAddr struct {
	ip  string
	exp time.Time
}

const passiveCacheTTL = time.Minute

func newPassiveAddrs(rules []PassiveRule) *passiveAddrs {
	return &passiveAddrs{rules: rules, resolver: net.DefaultResolver, cache: map[int]cachedAddr{}}
}

// errPassiveNeedsIPv4: PASV can only name an IPv4 address.
var errPassiveNeedsIPv4 = errors.New("PASV needs an IPv4 address, and this connection has none: use EPSV")

func (p *passiveAddrs) forClient(client, local net.Addr) (string, error) {
	cip := hostIP(client)
	for i, r := range p.rules {
		if cip != nil && r.Net.Contains(cip) {
			return p.lookup(i)
		}
	}
	ip := hostIP(local)
	if ip == nil || ip.To4() == nil {
		return "", errPassiveNeedsIPv4
	}
	return ip.To4().String(), nil
}

func (p *passiveAddrs) lookup(i int) (string, error) {
	r := p.rules[i]
	if ip := net.ParseIP(r.Address); ip != nil && r.Lookup == nil {
		return ip.String(), nil
	}
	p.mu.Lock()
	c, ok := p.cache[i]
	p.mu.Unlock()
	if ok && time.Now().Before(c.exp) {
		return c.ip, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ip, err := p.resolve(ctx, r)
	if err != nil {
		if ok {
			return c.ip, nil // keep serving the last good answer
		}
		return "", fmt.Errorf("passive address %s: %w", r.Address, err)
	}
	p.mu.Lock()
	p.cache[i] = cachedAddr{ip: ip, exp: time.Now().Add(passiveCacheTTL)}
	p.mu.Unlock()
	return ip, nil
}

func (p *passiveAddrs) resolve(ctx context.Context, r PassiveRule) (string, error) {
	if r.Lookup != nil {
		s, err := r.Lookup(ctx)
		if err != nil {
			return "", err
		}
		if ip := net.ParseIP(s); ip == nil || ip.To4() == nil {
			return "", fmt.Errorf("%q is not an IPv4 address", s)
		}
		return s, nil
	}
	ips, err := p.resolver.LookupIP(ctx, "ip4", r.Address)
	if err != nil {
		return "", err
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("no IPv4 address")
	}
	return ips[0].String(), nil
}

func hostIP(a net.Addr) net.IP {
	if a == nil {
		return nil
	}
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return nil
	}
	return net.ParseIP(h)
}
