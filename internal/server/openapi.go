package server

import (
	"context"
	_ "embed"
	"encoding/json"
)

// OpenAPI is the OpenAPI 3.1 document of the /v1 API, served at
// GET /v1/openapi.json. It is written by hand; a test keeps it and the
// route table in step, and docs/openapi.json is a copy of it.
//
//go:embed openapi.json
var OpenAPI []byte

// openAPI answers with the document. It needs no key: the document
// describes the API, not anyone's data.
func (s *Server) openAPI(context.Context, *call[none]) (reply, error) {
	return ok(json.RawMessage(OpenAPI)), nil
}
