package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/heraldhq/herald/internal/hook"
)

// access says who may call a route.
type access int

const (
	public    access = iota // no key: health checks
	anyKey                  // the admin key or a tenant key
	adminOnly               // the admin key; a tenant key gets 403
)

// opts describe how a route reads its request.
type opts struct {
	access     access
	maxBody    int64 // the body limit; 0 means defaultMaxBody
	mergePatch bool  // accept application/merge-patch+json too
}

// defaultMaxBody caps the body of every request but events and event types,
// which may be as large as Config.MaxPayload.
const defaultMaxBody = 64 << 10

// none is the input of a route that reads no body.
type none struct{}

// call is one API request as a handler sees it: the request, the key that
// made it (zero on public routes), and the decoded body.
type call[In any] struct {
	r   *http.Request
	key hook.APIKey
	in  In
}

// reply is a handler's answer: a status and a body to encode as JSON (nil
// for none, as with 204).
type reply struct {
	status int
	body   any
	header http.Header // extra headers, such as Location; may be nil
}

func ok(body any) reply    { return reply{status: http.StatusOK, body: body} }
func noContent() reply     { return reply{status: http.StatusNoContent} }
func accepted(b any) reply { return reply{status: http.StatusAccepted, body: b} }
func (s *Server) created(path string, body any) reply {
	return reply{status: http.StatusCreated, body: body, header: http.Header{"Location": {s.publicURL + path}}}
}

// handle adapts fn to an http.Handler: it authenticates and authorizes the
// caller, reads and decodes the body into In (unless In is none), calls fn,
// and writes its reply or its error as a problem. A handler only returns;
// it never writes, so it cannot forget to stop after an error.
func handle[In any](s *Server, o opts, fn func(context.Context, *call[In]) (reply, error)) http.Handler {
	limit := o.maxBody
	if limit == 0 {
		limit = defaultMaxBody
	}
	_, noBody := any((*In)(nil)).(*none)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		c := &call[In]{r: r}
		rep, err := func() (reply, error) {
			if o.access != public {
				key, err := s.authenticate(r)
				if err != nil {
					return reply{}, err
				}
				if o.access == adminOnly && !key.Admin() {
					return reply{}, forbidden("this route needs the admin key; a tenant key cannot use it")
				}
				c.key = key
			}
			if !noBody {
				if err := readBody(r, limit, o.mergePatch, &c.in); err != nil {
					return reply{}, err
				}
			}
			return fn(r.Context(), c)
		}()
		if err != nil {
			s.writeProblem(w, r, err)
			return
		}
		s.writeReply(w, r, rep)
	})
}

func (s *Server) writeReply(w http.ResponseWriter, r *http.Request, rep reply) {
	if rep.body == nil {
		writeHeader(w, rep)
		return
	}
	// Encode before writing, so that a failure can still be a 500.
	body, err := encodeJSON(rep.body)
	if err != nil {
		s.writeProblem(w, r, fmt.Errorf("encode answer: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	writeHeader(w, rep)
	_, _ = w.Write(body)
}

// jsonAppender is an answer that can encode itself, faster than
// encoding/json, in the common case.
type jsonAppender interface {
	// appendJSON appends the JSON of the answer to b, byte for byte as
	// encodeJSON would encode it with encoding/json, and reports true; or
	// reports false, and encodeJSON then uses encoding/json.
	appendJSON(b []byte) ([]byte, bool)
}

// encodeJSON encodes an answer, followed by a newline. HTML escaping is
// off: event data is shown as sent, not with "<" as "\u003c".
func encodeJSON(v any) ([]byte, error) {
	if a, ok := v.(jsonAppender); ok {
		if b, ok := a.appendJSON(nil); ok {
			return b, nil
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeHeader(w http.ResponseWriter, rep reply) {
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(rep.status)
}

// tenantOf resolves the tenant a request acts on, given the tenantId the
// request named (possibly empty). A tenant key acts on its own tenant and
// may not name another (403); the admin key acts on the tenant it names,
// which may be empty ("every tenant", where the caller allows it).
func tenantOf(key hook.APIKey, named string) (string, error) {
	switch {
	case key.Admin():
		return named, nil
	case named == "" || named == key.TenantID:
		return key.TenantID, nil
	}
	return "", forbidden("a tenant key acts on its own tenant only, not on tenant %q", named)
}

// sees reports whether the caller may see an object of tenant id. A tenant
// key does not see other tenants' objects: for it they do not exist (404).
func sees(key hook.APIKey, tenantID string) bool {
	return key.Admin() || key.TenantID == tenantID
}
