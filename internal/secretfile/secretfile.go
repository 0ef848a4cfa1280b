// Package secretfile keeps generated secrets (signing keys, data keys) in
// files only their owner can read.
package secretfile

import (
	"errors"
	"os"
	"path/filepath"
)

// LoadOrCreate returns the contents of the file at path. When it does not
// exist it writes generate's output there first, with mode 0600 in a directory
// of mode 0700; created says so. Two processes starting at once never
// overwrite each other: the loser reads the winner's file.
func LoadOrCreate(path string, generate func() ([]byte, error)) (data []byte, created bool, err error) {
	data, err = os.ReadFile(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return data, false, err
	}
	if data, err = generate(); err != nil {
		return nil, false, err
	}
	if err = os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		data, err = os.ReadFile(path)
		return data, false, err
	}
	if err != nil {
		return nil, false, err
	}
	if _, err = f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return nil, false, err
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return nil, false, err
	}
	return data, true, f.Close()
}
