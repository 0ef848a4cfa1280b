package webhooks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casework/casework/internal/apperr"
)

func TestAllowed(t *testing.T) {
	cases := map[string]bool{
		"127.0.0.1":                 false,
		"127.255.255.254":           false,
		"::1":                       false,
		"10.1.2.3":                  false,
		"172.16.0.1":                false,
		"172.31.255.255":            false,
		"172.15.255.255":            true,
		"172.32.0.1":                true,
		"192.168.1.1":               false,
		"169.254.169.254":           false,
		"fe80::1":                   false,
		"fe80::1%eth0":              false,
		"fc00::1":                   false,
		"fd12:3456::1":              false,
		"100.64.0.1":                false,
		"100.127.255.255":           false,
		"100.128.0.1":               true,
		"0.0.0.0":                   false,
		"0.1.2.3":                   false,
		"::":                        false,
		"::ffff:127.0.0.1":          false,
		"::ffff:10.0.0.1":           false,
		"::ffff:169.254.169.254":    false,
		"::ffff:8.8.8.8":            true,
		"::127.0.0.1":               false, // IPv4-compatible, deprecated
		"64:ff9b::7f00:1":           false, // NAT64 of 127.0.0.1
		"64:ff9b::a9fe:a9fe":        false, // NAT64 of 169.254.169.254
		"64:ff9b::808:808":          true,  // NAT64 of 8.8.8.8
		"64:ff9b:1::808:808":        false, // local-use NAT64
		"224.0.0.1":                 false,
		"239.255.255.250":           false,
		"ff02::1":                   false,
		"255.255.255.255":           false,
		"240.0.0.1":                 false,
		"192.0.0.8":                 false,
		"192.0.2.1":                 false,
		"198.51.100.7":              false,
		"203.0.113.9":               false,
		"198.18.0.1":                false,
		"198.19.255.255":            false,
		"2001:db8::1":               false,
		"3fff::1":                   false,
		"2001::1":                   false, // Teredo
		"2002:a00:1::1":             false, // 6to4 of 10.0.0.1
		"100::1":                    false, // discard-only
		"8.8.8.8":                   true,
		"1.1.1.1":                   true,
		"2001:4860:4860::8888":      true,
		"2606:4700:4700::1111":      true,
		"2a00:1450:4001:80b::200e":  true,
		"81.2.69.142":               true,
		"2001:67c:2e8:22::c100:68b": true,
	}
	for s, want := range cases {
		ip := netip.MustParseAddr(s)
		if got := (Guard{}).Allowed(ip); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", s, got, want)
		}
	}
	if (Guard{}).Allowed(netip.Addr{}) {
		t.Error("the zero address is allowed")
	}
	if !(Guard{AllowPrivate: true}).Allowed(netip.MustParseAddr("127.0.0.1")) {
		t.Error("AllowPrivate refuses 127.0.0.1")
	}
}

type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ss, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	addrs := make([]netip.Addr, len(ss))
	for i, s := range ss {
		addrs[i] = netip.MustParseAddr(s)
	}
	return addrs, nil
}

func TestCheckURL(t *testing.T) {
	r := fakeResolver{
		"public.example":  {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		"private.example": {"10.0.0.5"},
		"mixed.example":   {"8.8.8.8", "192.168.0.1"},
		"meta.example":    {"169.254.169.254"},
		"mapped.example":  {"::ffff:127.0.0.1"},
		"empty.example":   {},
	}
	long := "https://public.example/" + strings.Repeat("a", 2048)
	cases := []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://public.example/hook?x=1", false, true},
		{"https://public.example:8443/hook", false, true},
		{"https://8.8.8.8/hook", false, true},
		{"https://private.example/hook", false, false},
		{"https://mixed.example/hook", false, false},
		{"https://meta.example/latest/meta-data", false, false},
		{"https://mapped.example/", false, false},
		{"https://empty.example/", false, false},
		{"https://unknown.example/", false, false},
		{"https://127.0.0.1/", false, false},
		{"https://[::1]/", false, false},
		{"https://[fe80::1%25eth0]/", false, false},
		{"ftp://public.example/", false, false},
		{"ftp://public.example/", true, false},
		{"http://public.example/", false, false},
		{"http://public.example/", true, true},
		{"http://127.0.0.1:8080/", true, true},
		{"https://user:pw@public.example/", false, false},
		{"https://user@public.example/", false, false},
		{"https://public.example/#frag", false, false},
		{"https://public.example/#", false, false},
		{long, false, false},
		{"/relative/path", false, false},
		{"https:public.example", false, false},
		{"https://", false, false},
		{"https://:443/", false, false},
		{"", false, false},
	}
	for _, c := range cases {
		g := Guard{AllowPrivate: c.allowPrivate, Resolver: r}
		err := g.CheckURL(context.Background(), c.url)
		if c.ok {
			if err != nil {
				t.Errorf("CheckURL(%.60q, private=%v) = %v, want nil", c.url, c.allowPrivate, err)
			}
			continue
		}
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Code != apperr.Invalid || len(ae.Fields) != 1 || ae.Fields[0].Field != "url" {
			t.Errorf("CheckURL(%.60q, private=%v) = %v, want an Invalid error on url", c.url, c.allowPrivate, err)
		}
	}
}

func TestClientRefusesPrivateAddresses(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()

	resp, err := Guard{}.Client().Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("the client reached a loopback address")
	}
	if !errors.Is(err, errAddressRefused) {
		t.Fatalf("err = %v, want errAddressRefused", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the server was reached")
	}

	resp, err = Guard{AllowPrivate: true}.Client().Get(srv.URL)
	if err != nil {
		t.Fatalf("with AllowPrivate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || hits.Load() != 1 {
		t.Fatalf("with AllowPrivate: status %d, hits %d", resp.StatusCode, hits.Load())
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/next", http.StatusFound)
	})
	mux.HandleFunc("/next", func(http.ResponseWriter, *http.Request) { followed.Store(true) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := Guard{AllowPrivate: true}.Client().Post(srv.URL+"/", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || followed.Load() {
		t.Fatalf("status %d, followed %v: want the 302 itself", resp.StatusCode, followed.Load())
	}
}

func TestClientSettings(t *testing.T) {
	c := Guard{}.Client()
	if c.Timeout != 10*time.Second {
		t.Errorf("Timeout = %v, want 10s", c.Timeout)
	}
	tr, ok := c.Transport.(*http.Transport)
	if !ok || tr.Proxy != nil {
		t.Errorf("the transport may use a proxy from the environment")
	}
}
