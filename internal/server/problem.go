package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/heraldhq/herald/internal/hook"
)

// Problem types. Every error answer is an RFC 9457 problem whose type is one
// of these URIs, so a client can branch on the type rather than on the
// detail text, which is written for people.
const (
	problemBase           = "https://herald.dev/problems/"
	typeMalformed         = problemBase + "malformed-request"      // 400: the body is not the JSON asked for
	typeValidation        = problemBase + "validation"             // 400: fields are invalid; see errors
	typeUnauthorized      = problemBase + "unauthorized"           // 401
	typeForbidden         = problemBase + "forbidden"              // 403
	typeNotFound          = problemBase + "not-found"              // 404
	typeMethodNotAllowed  = problemBase + "method-not-allowed"     // 405
	typeConflict          = problemBase + "conflict"               // 409
	typeTooLarge          = problemBase + "payload-too-large"      // 413
	typeUnsupportedMedia  = problemBase + "unsupported-media-type" // 415
	typeInternal          = problemBase + "internal"               // 500
	typeUnavailable       = problemBase + "unavailable"            // 503
	problemContentType    = "application/problem+json"
	genericInternalDetail = "Herald could not complete the request; the error has been logged."
)

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string            `json:"type"`
	Title  string            `json:"title"`
	Status int               `json:"status"`
	Detail string            `json:"detail"`
	Errors []hook.FieldError `json:"errors,omitempty"`
}

// statusError is an error that carries its own answer: the transport's own
// refusals (401, 403, 413, 415, malformed JSON) and domain errors that a
// handler gave a detail a client may read. Its detail is always safe to send.
type statusError struct {
	status int
	typ    string
	detail string
	err    error // the domain error it stands for, if any
}

func (e *statusError) Error() string {
	if e.err != nil {
		return e.detail + ": " + e.err.Error()
	}
	return e.detail
}
func (e *statusError) Unwrap() error { return e.err }

// Constructors of statusErrors. The detail is shown to the client.
func malformed(format string, args ...any) error {
	return &statusError{http.StatusBadRequest, typeMalformed, fmt.Sprintf(format, args...), nil}
}

func forbidden(format string, args ...any) error {
	return &statusError{http.StatusForbidden, typeForbidden, fmt.Sprintf(format, args...), nil}
}

func unauthorized(detail string) error {
	return &statusError{http.StatusUnauthorized, typeUnauthorized, detail, nil}
}

func notFound(format string, args ...any) error {
	return &statusError{http.StatusNotFound, typeNotFound, fmt.Sprintf(format, args...), hook.ErrNotFound}
}

func conflict(format string, args ...any) error {
	return &statusError{http.StatusConflict, typeConflict, fmt.Sprintf(format, args...), hook.ErrConflict}
}

// invalid returns a validation error for one field.
func invalid(field, format string, args ...any) error {
	return &hook.ValidationError{Fields: []hook.FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// problemFor maps an error to the problem the client sees. It is the one
// place where domain errors become HTTP statuses. The text of an error that
// is not one of these never reaches the client; the caller logs it.
func problemFor(err error) problem {
	var se *statusError
	var ve *hook.ValidationError
	switch {
	case errors.As(err, &se):
		return newProblem(se.status, se.typ, se.detail)
	case errors.As(err, &ve):
		p := newProblem(http.StatusBadRequest, typeValidation, "The request has invalid fields; see errors.")
		p.Errors = ve.Fields
		return p
	case errors.Is(err, hook.ErrInvalidCursor):
		p := newProblem(http.StatusBadRequest, typeValidation, "The request has invalid fields; see errors.")
		p.Errors = []hook.FieldError{{Field: "cursor", Message: "is not a nextCursor from this list"}}
		return p
	case errors.Is(err, hook.ErrNotFound):
		return newProblem(http.StatusNotFound, typeNotFound, "The resource does not exist.")
	case errors.Is(err, hook.ErrConflict):
		return newProblem(http.StatusConflict, typeConflict, "The request conflicts with an existing resource.")
	case errors.Is(err, hook.ErrUnavailable):
		return newProblem(http.StatusServiceUnavailable, typeUnavailable,
			"The database is unavailable; nothing was acknowledged. Retry shortly.")
	}
	return newProblem(http.StatusInternalServerError, typeInternal, genericInternalDetail)
}

func newProblem(status int, typ, detail string) problem {
	return problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail}
}

// writeProblem answers with err as a problem. Errors that map to 500 are
// logged here, with the request, and only here.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	if p.Status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	switch p.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	case http.StatusTooManyRequests:
		var rl *rateLimited
		if errors.As(err, &rl) {
			w.Header().Set("Retry-After", rl.retryAfter())
		}
	}
	sendProblem(w, p)
}

func sendProblem(w http.ResponseWriter, p problem) {
	b, _ := json.Marshal(p) // a problem always marshals
	w.Header().Set("Content-Type", problemContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(b, '\n'))
}
