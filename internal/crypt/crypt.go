// Package crypt protects identifying data at rest: AES-256-GCM encryption
// under rotating data keys, and keyed hashes (HMAC-SHA256) for the exact-match
// lookups caseworkers need without storing plaintext.
package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/casework/casework/internal/secretfile"
)

// Keyring holds the data-encryption keys (one active, the others kept to read
// older data) and the index key for keyed hashes.
type Keyring struct {
	active string
	aeads  map[string]cipher.AEAD
	index  []byte
}

type keyringJSON struct {
	Active string    `json:"active"`
	Keys   []keyJSON `json:"keys"`
	// Index is the base64 HMAC key for keyed hashes. It does not rotate with
	// the data keys: the hashes of stored records must stay comparable.
	Index string `json:"index_key"`
}

type keyJSON struct {
	KID string `json:"kid"`
	Key string `json:"key"` // base64, 32 bytes
}

// ParseKeyring reads a keyring from its JSON form:
// {"active": "d1", "keys": [{"kid": "d1", "key": "<base64 32 bytes>"}], "index_key": "<base64 32 bytes>"}.
func ParseKeyring(data []byte) (*Keyring, error) {
	var raw keyringJSON
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("data keys: %w", err)
	}
	k := &Keyring{active: raw.Active, aeads: map[string]cipher.AEAD{}}
	for _, e := range raw.Keys {
		if e.KID == "" || strings.ContainsAny(e.KID, ".:") {
			return nil, errors.New("data keys: every key needs a kid without '.' or ':'")
		}
		key, err := base64.StdEncoding.DecodeString(e.Key)
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("data keys: key %q must be 32 bytes of base64", e.KID)
		}
		if _, dup := k.aeads[e.KID]; dup {
			return nil, fmt.Errorf("data keys: kid %q appears twice", e.KID)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		if k.aeads[e.KID], err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
	}
	if _, ok := k.aeads[k.active]; !ok {
		return nil, errors.New("data keys: the active kid is not in the keyring")
	}
	index, err := base64.StdEncoding.DecodeString(raw.Index)
	if err != nil || len(index) < 32 {
		return nil, errors.New("data keys: index_key must be at least 32 bytes of base64")
	}
	k.index = index
	return k, nil
}

// GenerateKeyring returns the JSON form of a new keyring with one data key
// and an index key.
func GenerateKeyring() ([]byte, error) {
	key, index := make([]byte, 32), make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := rand.Read(index); err != nil {
		return nil, err
	}
	return json.MarshalIndent(keyringJSON{
		Active: "d1",
		Keys:   []keyJSON{{KID: "d1", Key: base64.StdEncoding.EncodeToString(key)}},
		Index:  base64.StdEncoding.EncodeToString(index),
	}, "", "  ")
}

// LoadOrCreateKeyringFile reads the keyring at path, generating it (mode
// 0600) when it does not exist. created says which.
func LoadOrCreateKeyringFile(path string) (k *Keyring, created bool, err error) {
	data, created, err := secretfile.LoadOrCreate(path, GenerateKeyring)
	if err != nil {
		return nil, false, err
	}
	k, err = ParseKeyring(data)
	return k, created, err
}

// ActiveKID names the key new data is sealed with.
func (k *Keyring) ActiveKID() string { return k.active }

// Seal encrypts plaintext under the active key, bound to aad (say, the table,
// column and row id, so a ciphertext cannot be moved to another row). The
// result is "<kid>.<base64url(nonce ‖ ciphertext)>".
func (k *Keyring) Seal(plaintext []byte, aad string) string {
	aead := k.aeads[k.active]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	sealed := aead.Seal(nonce, nonce, plaintext, []byte(aad))
	return k.active + "." + base64.RawURLEncoding.EncodeToString(sealed)
}

// ErrUnreadable is returned for ciphertexts that do not open: unknown key,
// wrong aad, or tampering.
var ErrUnreadable = errors.New("crypt: ciphertext cannot be opened")

// Open decrypts what Seal produced with the same aad.
func (k *Keyring) Open(sealed, aad string) ([]byte, error) {
	kid, body, ok := strings.Cut(sealed, ".")
	if !ok {
		return nil, ErrUnreadable
	}
	aead, ok := k.aeads[kid]
	if !ok {
		return nil, ErrUnreadable
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrUnreadable
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(aad))
	if err != nil {
		return nil, ErrUnreadable
	}
	return plain, nil
}

// KIDOf names the key a sealed value was encrypted with ("" if malformed).
func KIDOf(sealed string) string {
	kid, _, ok := strings.Cut(sealed, ".")
	if !ok {
		return ""
	}
	return kid
}

// Hash is the keyed hash of value for lookups of one purpose (e.g.
// "person-dob", "document"): equal inputs give equal hashes, and without the
// index key nobody can test a guess against a stored hash.
func (k *Keyring) Hash(purpose, value string) string {
	m := hmac.New(sha256.New, k.index)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}
