package auth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/auth"
)

// phc is a decoded argon2id hash in PHC string form:
// $argon2id$v=19$m=...,t=...,p=...$salt$key.
type phc struct {
	alg, version, params string
	salt, key            []byte
}

func mustDecodePHC(t *testing.T, encoded string) phc {
	t.Helper()
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		t.Fatalf("hash %q is not a PHC string $alg$v$params$salt$key", encoded)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		t.Fatalf("salt of %q: %v", encoded, err)
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		t.Fatalf("key of %q: %v", encoded, err)
	}
	return phc{alg: parts[1], version: parts[2], params: parts[3], salt: salt, key: key}
}

// TestHashEncodesArgon2idParameters: new hashes are argon2id with OWASP's
// minimum cost (19 MiB, 2 passes, 1 lane) and a 16-byte random salt.
func TestHashEncodesArgon2idParameters(t *testing.T) {
	h := auth.NewHasher(2)
	ctx := context.Background()
	const password = "correct horse battery staple"
	a, err := h.Hash(ctx, password)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Hash(ctx, password)
	if err != nil {
		t.Fatal(err)
	}
	for _, encoded := range []string{a, b} {
		p := mustDecodePHC(t, encoded)
		if p.alg != "argon2id" {
			t.Errorf("algorithm %q, want argon2id", p.alg)
		}
		if p.version != "v=19" {
			t.Errorf("version %q, want v=19", p.version)
		}
		if p.params != "m=19456,t=2,p=1" {
			t.Errorf("parameters %q, want m=19456,t=2,p=1", p.params)
		}
		if len(p.salt) != 16 {
			t.Errorf("salt is %d bytes, want 16", len(p.salt))
		}
		if len(p.key) < 32 {
			t.Errorf("key is %d bytes, want at least 32", len(p.key))
		}
		if strings.Contains(encoded, password) {
			t.Errorf("hash %q contains the password", encoded)
		}
	}
	if a == b {
		t.Fatalf("two hashes of one password are equal: %q", a)
	}
	if string(mustDecodePHC(t, a).salt) == string(mustDecodePHC(t, b).salt) {
		t.Error("two hashes share a salt")
	}
}

// TestHashVerify: the right password verifies, anything else does not, and
// an empty stored hash (no such account) never does.
func TestHashVerify(t *testing.T) {
	h := auth.NewHasher(2)
	ctx := context.Background()
	const password = "correct horse battery staple"
	encoded, err := h.Hash(ctx, password)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, password, encoded string
		want                    bool
	}{
		{"right password", password, encoded, true},
		{"wrong password", "correct horse battery stapler", encoded, false},
		{"different case", strings.ToUpper(password), encoded, false},
		{"empty password", "", encoded, false},
		{"prefix of the password", password[:10], encoded, false},
		{"empty hash, empty password", "", "", false},
		{"empty hash, some password", password, "", false},
		{"over 1024 bytes", strings.Repeat("x", auth.MaxPasswordBytes+1), encoded, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, err := h.Verify(ctx, c.password, c.encoded)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if ok != c.want {
				t.Fatalf("Verify = %v, want %v", ok, c.want)
			}
		})
	}
	t.Run("malformed hash", func(t *testing.T) {
		ok, err := h.Verify(ctx, password, "$argon2id$v=19$m=19456,t=2,p=1$bm90LWEtaGFzaA")
		if ok {
			t.Fatal("a malformed hash verified")
		}
		if err == nil {
			t.Fatal("a malformed stored hash gave no error")
		}
	})
	t.Run("hash of another password", func(t *testing.T) {
		other, err := h.Hash(ctx, "another long passphrase")
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := h.Verify(ctx, password, other); err != nil || ok {
			t.Fatalf("Verify = %v, %v; want false, nil", ok, err)
		}
	})
}

// TestHashBoundedConcurrency: a Hasher with 2 workers never runs more than 2
// hashes at once, and does run 2 at once when 8 callers arrive together.
func TestHashBoundedConcurrency(t *testing.T) {
	h := auth.NewHasher(2)
	ctx := context.Background()
	if got := h.Peak(); got != 0 {
		t.Fatalf("Peak before any hash = %d, want 0", got)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			var err error
			if i%2 == 0 {
				_, err = h.Hash(ctx, "concurrent passphrase number "+string(rune('a'+i)))
			} else {
				_, err = h.Verify(ctx, "concurrent passphrase", "")
			}
			errs <- err
		}(i)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("hash: %v", err)
		}
	}
	if got := h.Peak(); got != 2 {
		t.Fatalf("Peak = %d, want exactly 2 (the bound, reached)", got)
	}
}

// TestValidatePassword: length in characters, the byte limit, UTF-8, the
// common-password list (case-insensitively), one repeated character, and
// the user's own email or name.
func TestValidatePassword(t *testing.T) {
	personal := []string{"Alice.Smith@example.org", "Alice Smith"}
	cases := []struct {
		name     string
		password string
		ok       bool
	}{
		{"9 characters", "kx7#mQ2v!", false},
		{"exactly 10 characters", "kx7#mQ2v!p", true},
		{"empty", "", false},
		{"9 two-byte characters (18 bytes)", "жёлтыйкот", false},
		{"10 two-byte characters", "жёлтыйкот7", true},
		{"common: password123", "password123", false},
		{"common, mixed case: Qwertyuiop", "Qwertyuiop", false},
		{"common, upper case: PASSWORD123", "PASSWORD123", false},
		{"common: 1234567890", "1234567890", false},
		{"one character repeated", "aaaaaaaaaaaa", false},
		{"one upper-case character repeated", "ZZZZZZZZZZ", false},
		{"one symbol repeated", "!!!!!!!!!!", false},
		{"one non-ASCII character repeated", "éééééééééé", false},
		{"two characters alternating", "abababababab", true},
		{"contains the email local part", "my alice.smith password", false},
		{"contains the email local part, other case", "XXALICE.SMITHxx!", false},
		{"contains the display name", "hello alice smith 42", false},
		{"exactly 1024 bytes", strings.Repeat("abcdefgh", 128), true},
		{"1025 bytes", strings.Repeat("abcdefgh", 128) + "i", false},
		{"far over 1024 bytes", strings.Repeat("abcdefgh", 1000), false},
		{"invalid UTF-8", "abcdefghij\xff", false},
		{"invalid UTF-8 in the middle", "abcde\xc3\x28fghij", false},
		{"a fine passphrase", "correct horse battery staple", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := auth.ValidatePassword("password", c.password, personal...)
			if c.ok {
				if err != nil {
					t.Fatalf("ValidatePassword(%q) = %v, want nil", c.password, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidatePassword(%q) accepted it", c.password)
			}
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Code != apperr.Invalid {
				t.Fatalf("error %v, want an Invalid apperr.Error", err)
			}
			if len(ae.Fields) != 1 || ae.Fields[0].Field != "password" {
				t.Fatalf("fields %+v, want one naming \"password\"", ae.Fields)
			}
			if len(c.password) >= 4 && strings.Contains(ae.Error()+ae.Fields[0].Message, c.password) {
				t.Errorf("the error repeats the password: %v", ae)
			}
		})
	}
}

// TestValidatePasswordWholeCommonList: every entry of the embedded list is
// refused, as listed and in upper case.
func TestValidatePasswordWholeCommonList(t *testing.T) {
	data, err := os.ReadFile("common-passwords.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n++
		for _, p := range []string{line, strings.ToUpper(line)} {
			if err := auth.ValidatePassword("password", p); err == nil {
				t.Errorf("common password %q accepted", p)
			}
		}
	}
	if n < 100 {
		t.Fatalf("the list holds only %d passwords", n)
	}
}
