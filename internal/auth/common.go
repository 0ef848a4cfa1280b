package auth

import (
	_ "embed"
	"strings"
)

//go:embed common-passwords.txt
var commonPasswordsText string

// commonPasswords is built once from the embedded list; it is never written after.
var commonPasswords = func() map[string]struct{} {
	m := make(map[string]struct{})
	for _, line := range strings.Split(commonPasswordsText, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			m[line] = struct{}{}
		}
	}
	return m
}()

func isCommonPassword(lower string) bool {
	_, ok := commonPasswords[lower]
	return ok
}
