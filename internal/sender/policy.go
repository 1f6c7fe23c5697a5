package sender

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
)

// deniedIPv4 is every IANA special-purpose IPv4 block that is not globally
// reachable (RFC 6890 and its updates). A customer URL must not reach any of
// them: they are this host, the private network Herald runs in, the cloud
// metadata service, or addresses that no public service uses.
var deniedIPv4 = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"; 0.0.0.0 reaches this host
	netip.MustParsePrefix("10.0.0.0/8"),      // private
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGNAT)
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, cloud metadata
	netip.MustParsePrefix("172.16.0.0/12"),   // private
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("192.88.99.0/24"),  // deprecated 6to4 relay anycast
	netip.MustParsePrefix("192.168.0.0/16"),  // private
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, including 255.255.255.255
}

// globalIPv6 is the global unicast space. Every IPv6 address outside it is
// denied: loopback, unspecified, IPv4-mapped and -compatible forms, NAT64
// (64:ff9b::/96, which would reach IPv4 through a translator), unique-local
// fc00::/7, link-local fe80::/10 and multicast ff00::/8.
var globalIPv6 = netip.MustParsePrefix("2000::/3")

// deniedIPv6 are the special-purpose blocks inside 2000::/3.
var deniedIPv6 = []netip.Prefix{
	netip.MustParsePrefix("2001::/23"),     // IETF protocol assignments, including Teredo 2001::/32
	netip.MustParsePrefix("2001:db8::/32"), // documentation
	netip.MustParsePrefix("2002::/16"),     // 6to4: embeds an IPv4 address that may be private
	netip.MustParsePrefix("3fff::/20"),     // documentation
}

// neverAllowed are the link-local ranges where cloud metadata services
// answer (169.254.169.254, fd00:ec2::254 on AWS). Credentials live there, so
// no allow-list may open them, not even for development.
var neverAllowed = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
}

// Policy decides which IP addresses Herald may connect to on a customer's
// behalf: public unicast addresses, plus exactly the prefixes an operator
// allowed. The zero Policy is the default (nothing extra allowed). A Policy
// is immutable and safe for concurrent use.
type Policy struct {
	allow []netip.Prefix
}

// NewPolicy returns a Policy that also allows the addresses in allow
// (the --allow-destinations flag, typically 127.0.0.1/32 for development).
// It fails when a prefix is invalid or overlaps a cloud metadata range
// (169.254.0.0/16, fe80::/10, fd00:ec2::254), which no configuration may open.
func NewPolicy(allow []netip.Prefix) (*Policy, error) {
	p := &Policy{allow: make([]netip.Prefix, 0, len(allow))}
	for _, a := range allow {
		if !a.IsValid() {
			return nil, fmt.Errorf("allow %v: invalid prefix", a)
		}
		c := canonicalPrefix(a)
		for _, n := range neverAllowed {
			if c.Overlaps(n) {
				return nil, fmt.Errorf("allow %v: overlaps %v, which is never allowed", a, n)
			}
		}
		p.allow = append(p.allow, c)
	}
	return p, nil
}

// Allowed reports whether Herald may connect to addr. The address is
// canonicalised first, so ::ffff:127.0.0.1 is judged as 127.0.0.1 and
// fe80::1%eth0 as fe80::1; an invalid address is never allowed.
func (p *Policy) Allowed(addr netip.Addr) bool {
	a := canonical(addr)
	if !a.IsValid() {
		return false
	}
	// NewPolicy already refuses allow-lists that overlap these; checking again
	// keeps the guarantee local to this function.
	for _, n := range neverAllowed {
		if n.Contains(a) {
			return false
		}
	}
	if p != nil {
		for _, pre := range p.allow {
			if pre.Contains(a) {
				return true
			}
		}
	}
	if a.Is4() {
		return !containedIn(deniedIPv4, a)
	}
	return globalIPv6.Contains(a) && !containedIn(deniedIPv6, a)
}

// ParseAllow parses the value of --allow-destinations: a comma-separated
// list of CIDR prefixes, where a bare address stands for itself alone
// (127.0.0.1 is 127.0.0.1/32). Blank input is an empty list. Whether the
// prefixes may be opened is NewPolicy's (and New's) decision.
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("allow %q: not an address or CIDR prefix", f)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("allow %q: not an address or CIDR prefix", f)
		}
		out = append(out, p)
	}
	return out, nil
}

// BlockedError is the error of a connection the Policy refused. The dial is
// stopped before connect(2), so the destination receives nothing.
type BlockedError struct {
	// Addr is the canonical address that was refused; invalid when the
	// dialled address could not be parsed at all.
	Addr netip.Addr
}

func (e *BlockedError) Error() string {
	if !e.Addr.IsValid() {
		return "destination address is not allowed"
	}
	return fmt.Sprintf("destination address %v is not allowed", e.Addr)
}

// control is the net.Dialer.ControlContext hook. It runs for every address
// the dialer tries, after name resolution and before connect(2), so it sees
// the IP actually dialled: a hostname that resolves to a public address when
// the endpoint is saved and to 127.0.0.1 at delivery time (DNS rebinding) is
// still refused.
func (p *Policy) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return &BlockedError{}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{}
	}
	if !p.Allowed(ap.Addr()) {
		return &BlockedError{Addr: canonical(ap.Addr())}
	}
	return nil
}

// canonical unmaps IPv4-mapped IPv6 addresses and drops zones, so that each
// address has one form to compare against the prefix tables.
func canonical(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// canonicalPrefix masks host bits and turns an IPv4-mapped IPv6 prefix
// (::ffff:10.0.0.0/104) into its IPv4 form (10.0.0.0/8), because Allowed
// compares canonical addresses, which are never mapped.
func canonicalPrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr().WithZone("")
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a, p.Bits()).Masked()
}

func containedIn(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
