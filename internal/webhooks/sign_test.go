package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSignFormat(t *testing.T) {
	secret, body := []byte("secret"), []byte(`{"id":"e1"}`)
	at := time.Unix(1700000000, 0)
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("1700000000." + string(body)))
	want := "t=1700000000,v1=" + hex.EncodeToString(h.Sum(nil))
	if got := Sign(secret, body, at); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret, body := []byte("secret"), []byte(`{"id":"e1"}`)
	at := time.Unix(1700000000, 0)
	header := Sign(secret, body, at)
	const tol = 5 * time.Minute
	if err := Verify(secret, body, header, at.Add(time.Minute), tol); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	other := Sign([]byte("other"), body, at)
	if err := Verify(secret, body, other+","+strings.Split(header, ",")[1], at, tol); err != nil {
		t.Fatalf("one matching v1 among several: %v", err)
	}
	bad := map[string]struct {
		secret, body []byte
		header       string
		now          time.Time
	}{
		"tampered body":  {secret, []byte(`{"id":"e2"}`), header, at},
		"wrong secret":   {[]byte("other"), body, header, at},
		"old timestamp":  {secret, body, header, at.Add(tol + time.Second)},
		"future":         {secret, body, header, at.Add(-tol - time.Second)},
		"empty header":   {secret, body, "", at},
		"no v1":          {secret, body, "t=1700000000", at},
		"no timestamp":   {secret, body, strings.Split(header, ",")[1], at},
		"bad timestamp":  {secret, body, "t=soon," + strings.Split(header, ",")[1], at},
		"non-hex v1":     {secret, body, "t=1700000000,v1=zz", at},
		"truncated v1":   {secret, body, header[:len(header)-2], at},
		"other t signed": {secret, body, strings.Replace(header, "t=1700000000", "t=1700000001", 1), at},
	}
	for name, c := range bad {
		if err := Verify(c.secret, c.body, c.header, c.now, tol); err == nil {
			t.Errorf("%s: Verify accepted it", name)
		}
	}
}

func TestNewSecret(t *testing.T) {
	raw, printable := NewSecret()
	if len(raw) != 32 {
		t.Fatalf("len(raw) = %d, want 32", len(raw))
	}
	enc, ok := strings.CutPrefix(printable, "whsec_")
	if !ok {
		t.Fatalf("printable %q lacks the whsec_ prefix", printable)
	}
	dec, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || !slices.Equal(dec, raw) {
		t.Fatalf("printable %q does not encode raw (%v)", printable, err)
	}
	if raw2, _ := NewSecret(); slices.Equal(raw, raw2) {
		t.Fatal("two secrets are equal")
	}
}

func TestPayloadJSON(t *testing.T) {
	p := Payload{
		ID: "e1", Type: CaseCreated, OccurredAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		OrganizationID: "o1", Data: Data{CaseID: "c1"},
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"e1","type":"case.created","occurred_at":"2025-01-02T03:04:05Z","organization_id":"o1","data":{"case_id":"c1"}}`
	if string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
}

func TestEventTypes(t *testing.T) {
	want := []string{"case.created", "case.updated", "service.recorded",
		"referral.received", "referral.accepted", "referral.ended"}
	got := slices.Clone(EventTypes)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("EventTypes = %v, want %v", EventTypes, want)
	}
}
