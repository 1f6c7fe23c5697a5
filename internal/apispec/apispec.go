// Package apispec checks HTTP traffic and the document itself against
// Herald's OpenAPI document, for tests. It wraps pb33f/libopenapi-validator,
// which reads OpenAPI 3.1 (JSON Schema 2020-12).
package apispec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
)

// Checker validates requests and responses against one document.
type Checker struct {
	mu sync.Mutex // the validator's caches are not documented as safe for concurrent use
	v  validator.Validator
}

// New builds a Checker for the OpenAPI document doc.
func New(doc []byte) (*Checker, error) {
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		return nil, fmt.Errorf("read openapi document: %w", err)
	}
	v, errs := validator.NewValidator(d, config.WithFormatAssertions())
	if len(errs) > 0 {
		return nil, fmt.Errorf("build openapi validator: %w", errors.Join(errs...))
	}
	return &Checker{v: v}, nil
}

// ValidateDocument checks the document against the OpenAPI 3.1 schema.
func (c *Checker) ValidateDocument() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok, errs := c.v.ValidateDocument(); !ok {
		return joinErrors("the document is not valid OpenAPI", errs)
	}
	return nil
}

// Check validates one exchange. The response must always match the
// document. The request must match too when the server accepted it (2xx):
// a request the server refused may well be one the document forbids, which
// is what the refusal is for. Bodies are read and put back.
func (c *Checker) Check(req *http.Request, reqBody []byte, resp *http.Response) error {
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	c.mu.Lock()
	defer c.mu.Unlock()
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	var msgs []string
	if resp.StatusCode < 300 {
		if ok, errs := c.v.ValidateHttpRequestSync(r); !ok {
			msgs = append(msgs, describe("request", errs)...)
		}
	}
	cp := *resp
	cp.Body = io.NopCloser(bytes.NewReader(respBody))
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	if ok, errs := c.v.ValidateHttpResponse(r, &cp); !ok {
		msgs = append(msgs, describe("response", errs)...)
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s %s → %d does not match the OpenAPI document:\n%s\nresponse body: %s",
			req.Method, req.URL.RequestURI(), resp.StatusCode, strings.Join(msgs, "\n"), respBody)
	}
	return nil
}

func describe(what string, errs []*verrors.ValidationError) []string {
	var out []string
	for _, e := range errs {
		line := fmt.Sprintf("  %s: %s", what, e.Message)
		if e.Reason != "" {
			line += " (" + e.Reason + ")"
		}
		for _, se := range e.SchemaValidationErrors {
			line += fmt.Sprintf("\n    %s: %s", se.FieldPath, se.Reason)
		}
		out = append(out, line)
	}
	return out
}

func joinErrors(what string, errs []*verrors.ValidationError) error {
	return fmt.Errorf("%s:\n%s", what, strings.Join(describe("document", errs), "\n"))
}

// TB is the part of testing.TB a Transport needs.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// Transport is an http.RoundTripper that sends through Base and reports
// every exchange that does not match the document as a test error.
type Transport struct {
	Checker *Checker
	Base    http.RoundTripper // nil: http.DefaultTransport
	T       TB
	// Skip, when not nil, tells requests to send without checking them.
	Skip func(*http.Request) bool
}

// RoundTrip sends req and checks the exchange.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Skip != nil && t.Skip(req) {
		return base.RoundTrip(req)
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if err := t.Checker.Check(req, body, resp); err != nil {
		t.T.Helper()
		t.T.Errorf("%v", err)
	}
	return resp, nil
}
