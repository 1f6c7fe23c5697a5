package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/webhook"
)

// newVerifyCmd returns "herald verify", which checks a delivery the way a
// receiver would, for a consumer working out why one was rejected.
func newVerifyCmd(stdout io.Writer) *cobra.Command {
	var (
		keys      []string
		bodyFile  string
		headers   []string
		tolerance time.Duration
	)
	cmd := &cobra.Command{
		Use:   "verify --key KEY --body FILE --header 'name: value'...",
		Short: "Check the signature of a webhook delivery",
		Long: `Verify checks a webhook delivery as a receiver would: the headers it carried
(Standard Webhooks webhook-id, webhook-timestamp and webhook-signature, or
X-Signature), its exact body, and the endpoint's keys. It prints "verified",
or says exactly why the delivery does not verify.

KEY is a whsec_ secret or a whpk_ public key; repeat --key during a rotation.`,
		Example: `  herald verify --key whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw --body body.json \
    --header 'webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek' \
    --header 'webhook-timestamp: 1614265330' \
    --header 'webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' \
    --tolerance 100000h`,
		Args:          args(cobra.NoArgs),
		SilenceUsage:  true,
		SilenceErrors: true, // returned to the caller, which prints it once
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(keys) == 0 {
				return usageError{errors.New("verify: --key is required (a whsec_ secret or whpk_ public key)")}
			}
			if bodyFile == "" {
				return usageError{errors.New("verify: --body is required (a file with the exact body, or - for standard input)")}
			}
			h, err := parseHeaders(headers)
			if err != nil {
				return usageError{fmt.Errorf("verify: %w", err)}
			}
			body, err := readBody(cmd.InOrStdin(), bodyFile)
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			v, err := webhook.NewVerifier(keys, webhook.WithTolerance(tolerance))
			if err != nil {
				return usageError{fmt.Errorf("verify: %w", err)}
			}
			if err := v.Verify(h, body); err != nil {
				return fmt.Errorf("not verified: %w%s", err, hint(v, h, body, err))
			}
			_, err = fmt.Fprintln(stdout, "verified")
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&keys, "key", nil, "a whsec_ secret or whpk_ public key to verify with (repeatable)")
	f.StringVar(&bodyFile, "body", "", "file holding the exact body of the request, - for standard input")
	f.StringArrayVar(&headers, "header", nil, "a header of the request, as 'name: value' (repeatable)")
	f.DurationVar(&tolerance, "tolerance", webhook.DefaultTolerance, "how far the timestamp may be from now")
	return cmd
}

// parseHeaders reads "name: value" lines as curl's -H takes them.
func parseHeaders(lines []string) (http.Header, error) {
	h := http.Header{}
	for _, line := range lines {
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("--header %q is not 'name: value'", line)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}

func readBody(stdin io.Reader, name string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read body from standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}

// hint adds what a consumer most likely got wrong, when it can tell.
func hint(v *webhook.Verifier, h http.Header, body []byte, err error) string {
	switch {
	case errors.Is(err, webhook.ErrTimestampTooOld), errors.Is(err, webhook.ErrTimestampTooNew):
		// Verify checks the signature first, so it matched.
		return " (the signature matches; give a larger --tolerance to accept it anyway)"
	case !errors.Is(err, webhook.ErrNoMatchingSignature):
		return ""
	}
	// Editors and shells add a final newline that the request did not have.
	trimmed := bytes.TrimRight(body, "\r\n")
	if len(trimmed) == len(body) {
		return ""
	}
	switch err := v.Verify(h, trimmed); {
	case err == nil, errors.Is(err, webhook.ErrTimestampTooOld), errors.Is(err, webhook.ErrTimestampTooNew):
		return " (the body file ends with a newline that the request's body did not have; without it, the body verifies)"
	}
	return ""
}
