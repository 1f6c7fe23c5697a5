package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// The specification's vector 1, signed in 2021.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = "1614265330"
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// runVerify runs "herald verify" with args and returns its output and error.
func runVerify(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newVerifyCmd(&out)
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.Execute()
	return out.String(), err
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestVerifyCmd(t *testing.T) {
	t.Parallel()
	body := writeFile(t, vecBody)
	vector := []string{"--body", body, "--header", "webhook-id: " + vecID, "--header", "Webhook-Timestamp:" + vecTS,
		"--header", "webhook-signature: " + vecSig}
	// The vector is years old; a tolerance of 100 years accepts it.
	old := "--tolerance=876000h"

	fresh := webhook.NewSecret()
	s, _ := webhook.NewSigner(webhook.SchemeXSignature, fresh)
	xh, _ := s.Sign("evt_1", time.Now(), []byte(vecBody))
	sk := webhook.NewSigningKey()
	pk, _ := webhook.PublicKey(sk)
	s, _ = webhook.NewSigner(webhook.SchemeEd25519, sk)
	edh, _ := s.Sign("evt_1", time.Now(), []byte(vecBody))

	for _, tt := range []struct {
		name  string
		args  []string
		stdin string
		want  string // the error, or "" to verify
		usage bool   // the error is in the command line
	}{
		{name: "vector", args: append([]string{"--key", vecSecret, old}, vector...)},
		{name: "rotated keys", args: append([]string{"--key", webhook.NewSecret(), "--key", vecSecret, old}, vector...)},
		{name: "body from stdin", stdin: vecBody, args: []string{"--key", vecSecret, old, "--body", "-",
			"--header", "webhook-id: " + vecID, "--header", "webhook-timestamp: " + vecTS, "--header", "webhook-signature: " + vecSig}},
		{name: "x-signature", args: []string{"--key", fresh, "--body", body, "--header", "X-Signature: " + xh.Get("X-Signature")}},
		{name: "ed25519", args: []string{"--key", pk, "--body", body, "--header", "webhook-id: evt_1",
			"--header", "webhook-timestamp: " + edh.Get("webhook-timestamp"), "--header", "webhook-signature: " + edh.Get("webhook-signature")}},
		{name: "too old", args: append([]string{"--key", vecSecret}, vector...),
			want: "not verified: timestamp too old: signed "},
		{name: "wrong key", args: append([]string{"--key", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", old}, vector...),
			want: "not verified: no matching signature: checked 1 v1 entry against 1 whsec_ secret"},
		{name: "final newline", args: append([]string{"--key", vecSecret, old}, append(vector, "--body", writeFile(t, vecBody+"\n"))...),
			want: "ends with a newline that the request's body did not have"},
		{name: "missing header", args: []string{"--key", vecSecret, "--body", body, "--header", "webhook-id: " + vecID, "--header", "webhook-signature: " + vecSig},
			want: "not verified: missing header: webhook-timestamp"},
		{name: "no key", args: vector, want: "--key is required", usage: true},
		{name: "no body", args: []string{"--key", vecSecret}, want: "--body is required", usage: true},
		{name: "bad key", args: append([]string{"--key", "whsec_"}, vector...), want: `key 1 of 1: invalid key: secret has nothing after "whsec_"`, usage: true},
		{name: "bad header", args: append([]string{"--key", vecSecret, "--header", "webhook-id=1"}, vector...), want: `--header "webhook-id=1" is not 'name: value'`, usage: true},
		{name: "missing body file", args: []string{"--key", vecSecret, "--body", filepath.Join(t.TempDir(), "nope")}, want: "read body: open"},
		{name: "bad tolerance", args: append([]string{"--key", vecSecret, "--tolerance", "0s"}, vector...), want: "tolerance is 0s", usage: true},
		{name: "argument", args: append([]string{"--key", vecSecret, "extra"}, vector...), want: `unknown command "extra"`, usage: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := runVerify(t, tt.stdin, tt.args...)
			if tt.want == "" {
				if err != nil || out != "verified\n" {
					t.Fatalf("verify = %q, %v; want \"verified\\n\", nil", out, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("verify error = %v, want one saying %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("verify printed %q on failure, want nothing (the caller prints the error)", out)
			}
			var ue usageError
			if got := errors.As(err, &ue); got != tt.usage {
				t.Errorf("usage error = %v, want %v", got, tt.usage)
			}
		})
	}
}

func TestVerifyCmdTimestampHint(t *testing.T) {
	t.Parallel()
	ts := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	s, _ := webhook.NewSigner(webhook.SchemeStandard, vecSecret)
	h, _ := s.Sign(vecID, time.Now().Add(-time.Hour), []byte(vecBody))
	_, err := runVerify(t, "", "--key", vecSecret, "--body", writeFile(t, vecBody),
		"--header", "webhook-id: "+vecID, "--header", "webhook-timestamp: "+ts,
		"--header", "webhook-signature: "+h.Get("webhook-signature"))
	if err == nil || !strings.Contains(err.Error(), "signed 1h0m0s ago") || !strings.Contains(err.Error(), "the signature matches") {
		t.Fatalf("verify error = %v, want it to say the signature matches but is 1h old", err)
	}
}
