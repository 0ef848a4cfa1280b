package webhooks

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/casework/casework/internal/apperr"
)

// maxURLLength is the longest target URL accepted.
const maxURLLength = 2048

// clientTimeout bounds one delivery attempt, response included.
const clientTimeout = 10 * time.Second

// errAddressRefused is returned when the dialer meets an address Allowed
// rejects.
var errAddressRefused = errors.New("webhooks: address is not public")

// Resolver looks up a host's addresses; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard decides which target addresses are allowed.
type Guard struct {
	// AllowPrivate allows any address and plain http; for tests and closed
	// networks only.
	AllowPrivate bool
	// Resolver resolves target hosts in CheckURL; nil means
	// net.DefaultResolver.
	Resolver Resolver
}

// refused4 are the IPv4 ranges that are not public unicast.
var refused4 = prefixes(
	"0.0.0.0/8",       // "this network", incl. unspecified
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // carrier-grade NAT
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, incl. cloud metadata
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"192.88.99.0/24",  // 6to4 relay anycast
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, incl. broadcast
)

// global6 is the IPv6 global unicast range; everything outside it (loopback,
// unspecified, unique local, link-local, multicast, ...) is refused.
var global6 = netip.MustParsePrefix("2000::/3")

// refused6 are the parts of global6 that are not public unicast.
var refused6 = prefixes(
	"2001::/23",     // IETF protocol assignments, incl. Teredo
	"2001:db8::/32", // documentation
	"2002::/16",     // 6to4
	"3fff::/20",     // documentation
)

// nat64 is the well-known NAT64 prefix; its addresses embed an IPv4 address.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

func inAny(ip netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Allowed reports whether ip is a public unicast address (any valid address
// when AllowPrivate). IPv4-mapped and NAT64 addresses are judged by the IPv4
// address they embed; zoned addresses are refused.
func (g Guard) Allowed(ip netip.Addr) bool {
	if g.AllowPrivate {
		return ip.IsValid()
	}
	return public(ip)
}

func public(ip netip.Addr) bool {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid() || ip.Zone() != "":
		return false
	case ip.Is4():
		return !inAny(ip, refused4)
	case nat64.Contains(ip):
		b := ip.As16()
		return public(netip.AddrFrom4([4]byte(b[12:])))
	default:
		return global6.Contains(ip) && !inAny(ip, refused6)
	}
}

// CheckURL validates a target URL at registration: an absolute https URL
// (http too when AllowPrivate), without user info or fragment, at most 2048
// characters, whose host resolves only to allowed addresses. Errors are
// Invalid on the field "url".
func (g Guard) CheckURL(ctx context.Context, raw string) error {
	host, msg := g.checkSyntax(raw)
	if msg != "" {
		return apperr.Field("url", msg)
	}
	addrs, err := g.resolve(ctx, host)
	if err != nil || len(addrs) == 0 {
		return apperr.Field("url", "the host could not be resolved")
	}
	for _, a := range addrs {
		if !g.Allowed(a) {
			return apperr.Field("url", "the host resolves to an address that is not public")
		}
	}
	return nil
}

// checkSyntax returns the URL's host, or a message saying what is wrong.
func (g Guard) checkSyntax(raw string) (host, msg string) {
	if len(raw) > maxURLLength {
		return "", "must be at most 2048 characters"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Hostname() == "":
		return "", "must be an absolute URL"
	case u.Scheme != "https" && !(g.AllowPrivate && u.Scheme == "http"):
		return "", "must use https"
	case u.User != nil:
		return "", "must not contain user info"
	case strings.Contains(raw, "#"):
		return "", "must not contain a fragment"
	}
	return u.Hostname(), ""
}

func (g Guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	return r.LookupNetIP(ctx, "ip", host)
}

// Client returns the *http.Client deliveries use: a 10 s timeout, redirects
// never followed, no proxy, and a dialer that refuses any address Allowed
// rejects, so that DNS rebinding between check and connect cannot reach a
// private address.
func (g Guard) Client() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	transport := &http.Transport{
		DialContext:         dialer.DialContext,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConns:        20,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{
		Timeout:   clientTimeout,
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// control runs just before each connect, on the resolved address.
func (g Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !g.Allowed(ap.Addr()) {
		return errAddressRefused
	}
	return nil
}
