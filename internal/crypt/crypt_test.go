package crypt_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casework/casework/internal/crypt"
)

func mustKeyring(t *testing.T, data []byte) *crypt.Keyring {
	t.Helper()
	k, err := crypt.ParseKeyring(data)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustGenerate(t *testing.T) []byte {
	t.Helper()
	data, err := crypt.GenerateKeyring()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestSealOpen(t *testing.T) {
	k := mustKeyring(t, mustGenerate(t))
	sealed := k.Seal([]byte("Aigul Canary"), "cases:1:given_name")
	if strings.Contains(sealed, "Aigul") || !strings.HasPrefix(sealed, k.ActiveKID()+".") {
		t.Fatalf("sealed form %q", sealed)
	}
	if again := k.Seal([]byte("Aigul Canary"), "cases:1:given_name"); again == sealed {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	plain, err := k.Open(sealed, "cases:1:given_name")
	if err != nil || string(plain) != "Aigul Canary" {
		t.Fatalf("Open = %q, %v", plain, err)
	}
	// Bound to its row and column: moving it elsewhere fails.
	for _, aad := range []string{"cases:2:given_name", "cases:1:family_name", ""} {
		if _, err := k.Open(sealed, aad); !errors.Is(err, crypt.ErrUnreadable) {
			t.Errorf("Open with aad %q = %v, want ErrUnreadable", aad, err)
		}
	}
	// Tampering fails.
	raw := []byte(sealed)
	raw[len(raw)-3] ^= 1
	if _, err := k.Open(string(raw), "cases:1:given_name"); !errors.Is(err, crypt.ErrUnreadable) {
		t.Errorf("tampered ciphertext opened: %v", err)
	}
	for _, bad := range []string{"", "nokid", "d9.AAAA", k.ActiveKID() + ".!!!", k.ActiveKID() + ".AAAA"} {
		if _, err := k.Open(bad, "x"); !errors.Is(err, crypt.ErrUnreadable) {
			t.Errorf("Open(%q) = %v, want ErrUnreadable", bad, err)
		}
	}
}

// TestRotation: a keyring with a new active key still opens what the old key
// sealed, and seals new data with the new key.
func TestRotation(t *testing.T) {
	oldJSON := mustGenerate(t)
	old := mustKeyring(t, oldJSON)
	sealed := old.Seal([]byte("secret"), "a")
	var ring map[string]any
	if err := json.Unmarshal(oldJSON, &ring); err != nil {
		t.Fatal(err)
	}
	keys := ring["keys"].([]any)
	keys = append(keys, map[string]any{"kid": "d2", "key": base64.StdEncoding.EncodeToString(make([]byte, 32))})
	ring["keys"], ring["active"] = keys, "d2"
	newJSON, _ := json.Marshal(ring)
	rotated := mustKeyring(t, newJSON)
	if plain, err := rotated.Open(sealed, "a"); err != nil || string(plain) != "secret" {
		t.Fatalf("rotated keyring cannot open old data: %v", err)
	}
	if kid := crypt.KIDOf(rotated.Seal([]byte("x"), "a")); kid != "d2" {
		t.Errorf("new data sealed with %q, want d2", kid)
	}
	if old.Hash("p", "v") != rotated.Hash("p", "v") {
		t.Error("keyed hashes changed with the data key; stored hashes would stop matching")
	}
}

func TestHash(t *testing.T) {
	a, b := mustKeyring(t, mustGenerate(t)), mustKeyring(t, mustGenerate(t))
	if a.Hash("doc", "N123") != a.Hash("doc", "N123") {
		t.Error("hash not deterministic")
	}
	if a.Hash("doc", "N123") == a.Hash("doc", "N124") || a.Hash("doc", "N123") == a.Hash("name", "N123") {
		t.Error("distinct inputs or purposes collide")
	}
	if a.Hash("doc", "N123") == b.Hash("doc", "N123") {
		t.Error("hash does not depend on the index key")
	}
	if strings.Contains(a.Hash("doc", "N123"), "N123") || len(a.Hash("doc", "N123")) != 64 {
		t.Errorf("hash %q", a.Hash("doc", "N123"))
	}
}

func TestParseKeyringErrors(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for name, data := range map[string]string{
		"not json":        "{",
		"no active key":   `{"active":"d2","keys":[{"kid":"d1","key":"` + key + `"}],"index_key":"` + key + `"}`,
		"short key":       `{"active":"d1","keys":[{"kid":"d1","key":"AAAA"}],"index_key":"` + key + `"}`,
		"kid with dot":    `{"active":"d.1","keys":[{"kid":"d.1","key":"` + key + `"}],"index_key":"` + key + `"}`,
		"duplicate kid":   `{"active":"d1","keys":[{"kid":"d1","key":"` + key + `"},{"kid":"d1","key":"` + key + `"}],"index_key":"` + key + `"}`,
		"short index key": `{"active":"d1","keys":[{"kid":"d1","key":"` + key + `"}],"index_key":"AAAA"}`,
	} {
		if _, err := crypt.ParseKeyring([]byte(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestKeyringFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "data-keys.json")
	k1, created, err := crypt.LoadOrCreateKeyringFile(path)
	if err != nil || !created {
		t.Fatalf("first load: created=%v err=%v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	k2, created, err := crypt.LoadOrCreateKeyringFile(path)
	if err != nil || created {
		t.Fatalf("second load: created=%v err=%v", created, err)
	}
	if _, err := k2.Open(k1.Seal([]byte("x"), "a"), "a"); err != nil {
		t.Errorf("the reloaded keyring cannot open what the first sealed: %v", err)
	}
}
