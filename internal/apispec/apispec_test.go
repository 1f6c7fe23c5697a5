package apispec

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const doc = `{
  "openapi": "3.1.0",
  "info": {"title": "t", "version": "1"},
  "paths": {
    "/v1/things": {
      "post": {
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": false}}}},
        "responses": {
          "201": {"description": "ok", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"], "additionalProperties": false}}}},
          "400": {"description": "bad", "content": {"application/json": {"schema": {"type": "object"}}}}
        }
      }
    }
  }
}`

// recorder is a TB that keeps the errors it is given.
type recorder struct{ errs []string }

func (r *recorder) Helper()                           {}
func (r *recorder) Errorf(format string, args ...any) { r.errs = append(r.errs, format) }

func TestTransport(t *testing.T) {
	t.Parallel()
	c, err := New([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateDocument(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		reqBody    string
		status     int
		respBody   string
		wantFailed bool
	}{
		{"matches", `{"name":"a"}`, 201, `{"id":"x"}`, false},
		{"answer lacks a field", `{"name":"a"}`, 201, `{}`, true},
		{"answer has an extra field", `{"name":"a"}`, 201, `{"id":"x","more":1}`, true},
		{"undocumented status", `{"name":"a"}`, 202, `{"id":"x"}`, true},
		{"accepted request that the document forbids", `{"nom":"a"}`, 201, `{"id":"x"}`, true},
		{"refused request that the document forbids", `{"nom":"a"}`, 400, `{}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.respBody)
			}))
			defer hs.Close()
			rec := &recorder{}
			hc := &http.Client{Transport: &Transport{Checker: c, T: rec}}
			resp, err := hc.Post(hs.URL+"/v1/things", "application/json", strings.NewReader(tt.reqBody))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != tt.respBody {
				t.Errorf("the caller read %q, want the body %q put back", b, tt.respBody)
			}
			if failed := len(rec.errs) > 0; failed != tt.wantFailed {
				t.Errorf("reported a mismatch: %v, want %v", failed, tt.wantFailed)
			}
		})
	}
}
