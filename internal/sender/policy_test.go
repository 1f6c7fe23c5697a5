package sender

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

// TestPolicyDefault covers every denied block with an address inside it and
// its first and last addresses, the neighbours just outside each block, some
// public addresses, and the mapped and zoned forms of both.
func TestPolicyDefault(t *testing.T) {
	t.Parallel()
	denied := []string{
		// 0.0.0.0/8
		"0.0.0.0", "0.1.2.3", "0.255.255.255",
		// 10.0.0.0/8
		"10.0.0.0", "10.1.2.3", "10.255.255.255",
		// 100.64.0.0/10
		"100.64.0.0", "100.100.100.100", "100.127.255.255",
		// 127.0.0.0/8
		"127.0.0.0", "127.0.0.1", "127.255.255.255",
		// 169.254.0.0/16
		"169.254.0.0", "169.254.169.254", "169.254.255.255",
		// 172.16.0.0/12
		"172.16.0.0", "172.20.1.1", "172.31.255.255",
		// 192.0.0.0/24
		"192.0.0.0", "192.0.0.9", "192.0.0.255",
		// 192.0.2.0/24
		"192.0.2.0", "192.0.2.1", "192.0.2.255",
		// 192.88.99.0/24
		"192.88.99.0", "192.88.99.1", "192.88.99.255",
		// 192.168.0.0/16
		"192.168.0.0", "192.168.1.1", "192.168.255.255",
		// 198.18.0.0/15
		"198.18.0.0", "198.19.1.1", "198.19.255.255",
		// 198.51.100.0/24
		"198.51.100.0", "198.51.100.7", "198.51.100.255",
		// 203.0.113.0/24
		"203.0.113.0", "203.0.113.9", "203.0.113.255",
		// 224.0.0.0/4
		"224.0.0.0", "224.0.0.251", "239.255.255.255",
		// 240.0.0.0/4, including broadcast
		"240.0.0.0", "250.1.2.3", "255.255.255.254", "255.255.255.255",

		// IPv6 outside 2000::/3
		"::", "::1", "::7f00:1" /* IPv4-compatible 127.0.0.1 */, "64:ff9b::a00:1", /* NAT64 */
		"100::1" /* discard */, "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"4000::", "fc00::1", "fd00::1", "fd00:ec2::254", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"fe80::", "fe80::1", "fe80::1%eth0", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"ff02::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		// 2001::/23, including Teredo 2001::/32
		"2001::", "2001::1", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "2001:10::1",
		"2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
		// 2001:db8::/32
		"2001:db8::", "2001:db8::1", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
		// 2002::/16
		"2002::", "2002:a00:1::", "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		// 3fff::/20
		"3fff::", "3fff::1", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff",

		// IPv4-mapped forms are judged as IPv4.
		"::ffff:0.0.0.0", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
		"::ffff:192.168.0.1", "::ffff:255.255.255.255",
	}
	allowed := []string{
		"8.8.8.8", "1.1.1.1", "2606:4700::1111", "2a00:1450::1", "2001:4860:4860::8888",
		// Just outside each IPv4 block.
		"1.0.0.0", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
		"126.255.255.255", "128.0.0.0", "169.253.255.255", "169.255.0.0",
		"172.15.255.255", "172.32.0.0", "191.255.255.255", "192.0.1.0", "192.0.3.0",
		"192.88.98.255", "192.88.100.0", "192.167.255.255", "192.169.0.0",
		"198.17.255.255", "198.20.0.0", "198.51.99.255", "198.51.101.0",
		"203.0.112.255", "203.0.114.0", "223.255.255.255",
		// Just outside each IPv6 block.
		"2000::", "2001:200::", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::",
		"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2003::", "3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"3fff:1000::", "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		// Mapped and zoned forms of public addresses.
		"::ffff:8.8.8.8", "::ffff:1.1.1.1", "2606:4700::1111%eth0",
	}
	var p Policy
	for _, s := range denied {
		if a := netip.MustParseAddr(s); p.Allowed(a) {
			t.Errorf("Allowed(%v) = true, want false", a)
		}
	}
	for _, s := range allowed {
		if a := netip.MustParseAddr(s); !p.Allowed(a) {
			t.Errorf("Allowed(%v) = false, want true", a)
		}
	}
	if p.Allowed(netip.Addr{}) {
		t.Error("Allowed(zero Addr) = true, want false")
	}
	var nilPolicy *Policy
	if nilPolicy.Allowed(netip.MustParseAddr("127.0.0.1")) || !nilPolicy.Allowed(netip.MustParseAddr("8.8.8.8")) {
		t.Error("a nil *Policy does not behave as the default")
	}
}

func TestPolicyAllow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		allow   string
		yes, no []string
	}{
		{
			allow: "127.0.0.1/32",
			yes:   []string{"127.0.0.1", "::ffff:127.0.0.1", "8.8.8.8"},
			no:    []string{"127.0.0.2", "127.0.0.0", "::1", "10.0.0.1", "169.254.169.254"},
		},
		{
			allow: "::1/128",
			yes:   []string{"::1"},
			no:    []string{"127.0.0.1", "::2", "::"},
		},
		{
			allow: "10.1.2.3/16", // host bits are masked off
			yes:   []string{"10.1.0.0", "10.1.255.255", "::ffff:10.1.9.9"},
			no:    []string{"10.0.255.255", "10.2.0.0"},
		},
		{
			allow: "::ffff:192.168.0.0/112", // a mapped prefix opens the IPv4 range
			yes:   []string{"192.168.0.1", "192.168.255.255", "::ffff:192.168.3.4"},
			no:    []string{"10.0.0.1", "172.16.0.1", "127.0.0.1"},
		},
		{
			allow: "fd12:3456::/32",
			yes:   []string{"fd12:3456::1", "fd12:3456:ffff::1"},
			no:    []string{"fd12:3457::1", "fd00:ec2::254", "fe80::1"},
		},
	}
	for _, tt := range tests {
		p, err := NewPolicy([]netip.Prefix{netip.MustParsePrefix(tt.allow)})
		if err != nil {
			t.Fatalf("NewPolicy(%s): %v", tt.allow, err)
		}
		for _, s := range tt.yes {
			if !p.Allowed(netip.MustParseAddr(s)) {
				t.Errorf("allow %s: Allowed(%s) = false, want true", tt.allow, s)
			}
		}
		for _, s := range tt.no {
			if p.Allowed(netip.MustParseAddr(s)) {
				t.Errorf("allow %s: Allowed(%s) = true, want false", tt.allow, s)
			}
		}
	}
}

func TestNewPolicyRefusesMetadata(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"169.254.0.0/16", "169.254.169.254/32", "169.0.0.0/8", "0.0.0.0/0",
		"::ffff:169.254.169.254/128", "fe80::/10", "fe80::1/128", "fe00::/7", "::/0",
		"fd00:ec2::254/128", "fd00:ec2::/32", "fd00::/8", "fc00::/7",
	} {
		if _, err := NewPolicy([]netip.Prefix{netip.MustParsePrefix(s)}); err == nil {
			t.Errorf("NewPolicy(%s): no error, want one", s)
		}
	}
	if _, err := NewPolicy([]netip.Prefix{{}}); err == nil {
		t.Error("NewPolicy(invalid prefix): no error, want one")
	}
	if _, err := NewPolicy([]netip.Prefix{netip.MustParsePrefix("fd00:ec3::/32")}); err != nil {
		t.Errorf("NewPolicy(fd00:ec3::/32): %v, want no error", err)
	}
}

func TestPolicyControl(t *testing.T) {
	t.Parallel()
	var p Policy
	tests := []struct {
		network, address string
		want             netip.Addr // zero: allowed
		blocked          bool
	}{
		{"tcp", "8.8.8.8:443", netip.Addr{}, false},
		{"tcp6", "[2606:4700::1111]:443", netip.Addr{}, false},
		{"tcp4", "127.0.0.1:80", netip.MustParseAddr("127.0.0.1"), true},
		{"tcp", "[::ffff:127.0.0.1]:80", netip.MustParseAddr("127.0.0.1"), true},
		{"tcp6", "[fe80::1%eth0]:80", netip.MustParseAddr("fe80::1"), true},
		{"udp", "8.8.8.8:53", netip.Addr{}, true},
		{"tcp", "not-an-address:80", netip.Addr{}, true},
	}
	for _, tt := range tests {
		err := p.control(t.Context(), tt.network, tt.address, nil)
		var b *BlockedError
		if got := errors.As(err, &b); got != tt.blocked {
			t.Errorf("control(%s, %s) = %v, blocked %v, want %v", tt.network, tt.address, err, got, tt.blocked)
			continue
		}
		if tt.blocked && b.Addr != tt.want {
			t.Errorf("control(%s, %s): Addr = %v, want %v", tt.network, tt.address, b.Addr, tt.want)
		}
	}
}

func TestParseAllow(t *testing.T) {
	t.Parallel()
	got, err := ParseAllow(" 127.0.0.1/32, ::1 ,10.0.0.0/8,,192.168.1.7 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
	}
	if !slices.Equal(got, want) {
		t.Errorf("ParseAllow = %v, want %v", got, want)
	}
	if got, err := ParseAllow(""); err != nil || len(got) != 0 {
		t.Errorf("ParseAllow(\"\") = %v, %v; want empty", got, err)
	}
	for _, bad := range []string{"localhost", "10.0.0.0/33", "10.0.0/8", "fe80::1%eth0/64", "127.0.0.1,nope"} {
		if _, err := ParseAllow(bad); err == nil {
			t.Errorf("ParseAllow(%q): no error, want one", bad)
		}
	}
}
