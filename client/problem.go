package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Problem types the server answers with. Compare Problem.Type with them.
const (
	ProblemMalformed        = "https://herald.dev/problems/malformed-request"
	ProblemValidation       = "https://herald.dev/problems/validation"
	ProblemUnauthorized     = "https://herald.dev/problems/unauthorized"
	ProblemForbidden        = "https://herald.dev/problems/forbidden"
	ProblemNotFound         = "https://herald.dev/problems/not-found"
	ProblemMethodNotAllowed = "https://herald.dev/problems/method-not-allowed"
	ProblemConflict         = "https://herald.dev/problems/conflict"
	ProblemTooLarge         = "https://herald.dev/problems/payload-too-large"
	ProblemUnsupportedMedia = "https://herald.dev/problems/unsupported-media-type"
	ProblemRateLimited      = "https://herald.dev/problems/rate-limited"
	ProblemInternal         = "https://herald.dev/problems/internal"
	ProblemUnavailable      = "https://herald.dev/problems/unavailable"
)

// Problem is the server's refusal of a request: an RFC 9457 problem. Every
// answer with a status of 300 or more is returned as one; an answer that
// was not a problem document (from a proxy, say) gets its status and the
// start of its body as the detail.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail"`
	Errors []FieldError `json:"errors,omitempty"`
	// RetryAfter is the answer's Retry-After, if it had one.
	RetryAfter time.Duration `json:"-"`
}

// FieldError names one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the problem on one line: its status, its detail and each
// invalid field.
func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", p.Status, cmpOr(p.Title, http.StatusText(p.Status)))
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	for i, f := range p.Errors {
		sep := "; "
		if i == 0 {
			sep = " "
		}
		fmt.Fprintf(&b, "%s%s %s", sep, f.Field, f.Message)
	}
	return b.String()
}

func newProblem(status int, h http.Header, raw []byte) *Problem {
	p := &Problem{}
	if json.Unmarshal(raw, p) != nil || p.Status == 0 {
		detail := strings.TrimSpace(string(raw))
		if len(detail) > 200 {
			detail = detail[:200] + "…"
		}
		p = &Problem{Title: http.StatusText(status), Detail: detail}
	}
	p.Status = status
	p.RetryAfter = parseRetryAfter(h.Get("Retry-After"), time.Now())
	return p
}
