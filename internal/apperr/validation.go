package apperr

// Validator collects field errors so that one response can list them all.
type Validator struct {
	fields []FieldError
}

// Check records msg for field unless ok holds.
func (v *Validator) Check(ok bool, field, msg string) {
	if !ok {
		v.fields = append(v.fields, FieldError{Field: field, Message: msg})
	}
}

// Err returns an Invalid error listing the recorded fields, or nil.
func (v *Validator) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return Fields(v.fields...)
}
