package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/casework/casework/internal/secretfile"
)

// KeySet is the fixed set of token-signing keys: one active key signs, every
// key in the set verifies (so tokens signed before a rotation stay valid until
// they expire).
type KeySet struct {
	active string
	keys   map[string]ed25519.PrivateKey
}

type keySetJSON struct {
	Active string    `json:"active"`
	Keys   []keyJSON `json:"keys"`
}

type keyJSON struct {
	KID string `json:"kid"`
	Alg string `json:"alg"`
	// Seed is the base64 (standard) Ed25519 private-key seed, 32 bytes.
	Seed string `json:"seed"`
}

// ParseKeySet reads a key set from its JSON form:
// {"active": "kid", "keys": [{"kid": "...", "alg": "EdDSA", "seed": "<base64 32 bytes>"}]}.
func ParseKeySet(data []byte) (*KeySet, error) {
	var raw keySetJSON
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	ks := &KeySet{active: raw.Active, keys: make(map[string]ed25519.PrivateKey)}
	for _, k := range raw.Keys {
		if k.KID == "" || k.Alg != "EdDSA" {
			return nil, fmt.Errorf("signing keys: every key needs a kid and alg EdDSA")
		}
		seed, err := base64.StdEncoding.DecodeString(k.Seed)
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("signing keys: key %q: seed must be %d bytes of base64", k.KID, ed25519.SeedSize)
		}
		if _, dup := ks.keys[k.KID]; dup {
			return nil, fmt.Errorf("signing keys: kid %q appears twice", k.KID)
		}
		ks.keys[k.KID] = ed25519.NewKeyFromSeed(seed)
	}
	if _, ok := ks.keys[ks.active]; !ok {
		return nil, errors.New("signing keys: the active kid is not in the key set")
	}
	return ks, nil
}

// GenerateKeySet returns the JSON form of a new key set with one fresh key.
func GenerateKeySet() ([]byte, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	kid := "k" + time.Now().UTC().Format("20060102150405")
	return json.MarshalIndent(keySetJSON{
		Active: kid,
		Keys:   []keyJSON{{KID: kid, Alg: "EdDSA", Seed: base64.StdEncoding.EncodeToString(seed)}},
	}, "", "  ")
}

// LoadOrCreateKeySetFile reads the key set at path, generating it (mode
// 0600) when it does not exist. created says which.
func LoadOrCreateKeySetFile(path string) (ks *KeySet, created bool, err error) {
	data, created, err := secretfile.LoadOrCreate(path, GenerateKeySet)
	if err != nil {
		return nil, false, err
	}
	ks, err = ParseKeySet(data)
	return ks, created, err
}
