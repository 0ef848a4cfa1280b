package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Header names.
const (
	SignatureHeader = "Casework-Signature"
	EventHeader     = "Casework-Event"
	DeliveryHeader  = "Casework-Delivery"
)

// secretPrefix marks the printable form of a webhook secret.
const secretPrefix = "whsec_"

var (
	errMalformedSignature = errors.New("webhooks: malformed signature header")
	errStaleSignature     = errors.New("webhooks: signature timestamp outside tolerance")
	errBadSignature       = errors.New("webhooks: signature does not match")
)

// Sign returns the value of the signature header:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<unix seconds>." + body)>".
func Sign(secret, body []byte, at time.Time) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// Verify checks a header made by Sign within tolerance of now (constant-time
// compare); for receivers and tests. Any one matching v1 value suffices.
func Verify(secret, body []byte, header string, now time.Time, tolerance time.Duration) error {
	ts, sigs := parseSignature(header)
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errMalformedSignature
	}
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return errStaleSignature
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errBadSignature
}

// parseSignature splits a signature header into its timestamp and v1 values;
// unknown keys are ignored.
func parseSignature(header string) (ts string, sigs []string) {
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	return ts, sigs
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts + "."))
	h.Write(body)
	return h.Sum(nil)
}

// NewSecret returns a new random webhook secret (32 bytes) and its printable
// form "whsec_<base64url>".
func NewSecret() (raw []byte, printable string) {
	raw = make([]byte, 32)
	rand.Read(raw) // never fails; crashes the program if the OS source does
	return raw, secretPrefix + base64.RawURLEncoding.EncodeToString(raw)
}
