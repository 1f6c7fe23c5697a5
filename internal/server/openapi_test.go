package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/apispec"
)

// TestOpenAPICoversRoutes fails when a /v1 route of the table is missing
// from the document, or the document describes a route the server lacks.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	methods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	var inDoc, inTable []string
	for path, item := range doc.Paths {
		for m := range item {
			if slices.Contains(methods, m) {
				inDoc = append(inDoc, strings.ToUpper(m)+" "+path)
			}
		}
	}
	for _, r := range routeTable(DefaultMaxPayload) {
		if isAPI(r.pattern) {
			inTable = append(inTable, r.method+" "+r.pattern)
		}
	}
	for _, r := range inTable {
		if !slices.Contains(inDoc, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, r := range inDoc {
		if !slices.Contains(inTable, r) {
			t.Errorf("openapi.json describes %s, which the route table lacks", r)
		}
	}
}

func TestOpenAPIValid(t *testing.T) {
	t.Parallel()
	c, err := apispec.New(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateDocument(); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi = %q (%v), want 3.1.x", doc.OpenAPI, err)
	}
}

// TestOpenAPIDocsCopy keeps docs/openapi.json, the copy people and tools
// read in the repository, equal to the embedded document.
func TestOpenAPIDocsCopy(t *testing.T) {
	t.Parallel()
	docs, err := os.ReadFile("../../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(docs, OpenAPI) {
		t.Fatal("docs/openapi.json differs from internal/server/openapi.json; copy it: cp internal/server/openapi.json docs/")
	}
}

func TestOpenAPIServedWithoutKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.must(t, http.StatusOK, req{method: "GET", path: "/v1/openapi.json"}, nil)
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var got, want any
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(OpenAPI, &want)
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if !bytes.Equal(gb, wb) {
		t.Error("GET /v1/openapi.json is not the embedded document")
	}
}
