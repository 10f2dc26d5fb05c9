package ftp

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/ftps3/ftps3/app/config"
)

// passiveAddrs chooses the IPv4 address sent in PASV replies, per client
// network (aioftps3's FTP_DATA_CIDR_TO_DOMAINS): the first CIDR holding the
// client's address wins; its domain is resolved (cached for a minute), an IP
// literal is used as is, and config.PassiveFromEC2 is the instance's private
// IPv4 from EC2 metadata (for a container in bridge mode, which only sees its
// own address). With no match, the address the client connected to is used.
// EPSV replies carry no address and need none of this.
type passiveAddrs struct {
	cidrs    []config.DataCIDR
	resolver *net.Resolver
	ec2      func(ctx context.Context) (string, error)

	mu    sync.Mutex
	cache map[string]cachedAddr
}

type cachedAddr struct {
	ip  string
	exp time.Time
}

const passiveCacheTTL = time.Minute

func newPassiveAddrs(cidrs []config.DataCIDR) *passiveAddrs {
	return &passiveAddrs{cidrs: cidrs, resolver: net.DefaultResolver, ec2: ec2LocalIPv4, cache: map[string]cachedAddr{}}
}

func (p *passiveAddrs) forClient(client, local net.Addr) (string, error) {
	cip := hostIP(client)
	for _, c := range p.cidrs {
		if cip != nil && c.Net.Contains(cip) {
			return p.lookup(c.Domain)
		}
	}
	ip := hostIP(local)
	if ip == nil || ip.To4() == nil {
		return "", fmt.Errorf("no IPv4 address for PASV (use EPSV)")
	}
	return ip.To4().String(), nil
}

func (p *passiveAddrs) lookup(domain string) (string, error) {
	if ip := net.ParseIP(domain); ip != nil {
		return ip.String(), nil
	}
	p.mu.Lock()
	c, ok := p.cache[domain]
	p.mu.Unlock()
	if ok && time.Now().Before(c.exp) {
		return c.ip, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ip string
	var err error
	if domain == config.PassiveFromEC2 {
		ip, err = p.ec2(ctx)
	} else {
		var ips []net.IP
		ips, err = p.resolver.LookupIP(ctx, "ip4", domain)
		if err == nil && len(ips) > 0 {
			ip = ips[0].String()
		} else if err == nil {
			err = fmt.Errorf("no IPv4 address")
		}
	}
	if err != nil {
		if ok {
			return c.ip, nil // keep serving the last good answer
		}
		return "", fmt.Errorf("passive address %s: %w", domain, err)
	}
	p.mu.Lock()
	p.cache[domain] = cachedAddr{ip: ip, exp: time.Now().Add(passiveCacheTTL)}
	p.mu.Unlock()
	return ip, nil
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

// ec2LocalIPv4 reads the instance's private IPv4 through IMDSv2. In a bridge
// mode container this needs a metadata hop limit of 2.
func ec2LocalIPv4(ctx context.Context) (string, error) {
	out, err := imds.New(imds.Options{}).GetMetadata(ctx, &imds.GetMetadataInput{Path: "local-ipv4"})
	if err != nil {
		return "", fmt.Errorf("EC2 instance metadata: %w", err)
	}
	defer out.Content.Close()
	var b strings.Builder
	buf := make([]byte, 64)
	for {
		n, err := out.Content.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	ip := net.ParseIP(strings.TrimSpace(b.String()))
	if ip == nil || ip.To4() == nil {
		return "", fmt.Errorf("EC2 instance metadata: local-ipv4 is %q", b.String())
	}
	return ip.String(), nil
}
