package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/casework/casework/internal/apperr"
)

// describe spells out a validation error's fields for the terminal.
func describe(err error) error {
	var ae *apperr.Error
	if !errors.As(err, &ae) || len(ae.Fields) == 0 {
		return err
	}
	parts := make([]string, len(ae.Fields))
	for i, f := range ae.Fields {
		parts[i] = f.Field + " " + f.Message
	}
	return fmt.Errorf("%s: %s", ae.Message, strings.Join(parts, "; "))
}
