// Package hook is Herald's domain: tenants, endpoints, events, deliveries and
// API keys, their validation and state, and the one Store interface that every
// storage implementation satisfies. It does no I/O; functions that depend on
// the time take it as a parameter.
package hook

import (
	"errors"
	"fmt"
	"strings"
)

// Errors a Store returns, translated from driver errors at the store edge.
var (
	// ErrNotFound means the object does not exist (or is not visible).
	ErrNotFound = errors.New("not found")
	// ErrConflict means a uniqueness rule was violated, such as a taken id.
	ErrConflict = errors.New("conflict")
	// ErrInvalidCursor means a list cursor was not produced by the store.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrUnavailable means the database could not be reached (a lost
	// connection, a server restarting); the operation may be retried. A
	// write that fails with it may or may not have committed.
	ErrUnavailable = errors.New("database unavailable")
)

// FieldError names one invalid input field and why it is invalid.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every invalid field of one input.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// fieldErrors collects field errors while validating.
type fieldErrors []FieldError

func (fe *fieldErrors) add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// err returns nil when nothing was collected, else a *ValidationError.
func (fe fieldErrors) err() error {
	if len(fe) == 0 {
		return nil
	}
	return &ValidationError{Fields: fe}
}
