package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/client"
)

func TestProgress(t *testing.T) {
	t.Parallel()
	jobs := []client.Job{
		{Status: "running", Total: 10, Done: 0},
		{Status: "running", Total: 10, Done: 0}, // unchanged: not drawn again
		{Status: "running", Total: 10, Done: 5},
		{Status: "succeeded", Total: 10, Done: 10},
	}
	var tty, plain bytes.Buffer
	pt, pp := newProgress(&tty, true), newProgress(&plain, false)
	for _, j := range jobs {
		pt.draw(j)
		pp.draw(j)
	}
	pt.end()
	pp.end()
	want := "[------------------------------]   0% 0/10 events  running\n" +
		"[###############---------------]  50% 5/10 events  running\n" +
		"[##############################] 100% 10/10 events  succeeded\n"
	if plain.String() != want {
		t.Errorf("plain progress =\n%s\nwant\n%s", plain.String(), want)
	}
	if got := tty.String(); strings.Count(got, "\r") != 3 || !strings.HasSuffix(got, "succeeded\x1b[K\n") {
		t.Errorf("terminal progress = %q, want three redraws in place and a final newline", got)
	}
	// A job with nothing to do is complete when it ends.
	if got := progressLine(client.Job{Status: "succeeded"}); !strings.Contains(got, "100% 0/0") {
		t.Errorf("empty job = %q", got)
	}
}

func TestTailColors(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 8, 10, 15, 0, 0, time.UTC)
	status := func(n int) *int { return &n }
	class := func(s string) *string { return &s }
	tests := []struct {
		a     client.Attempt
		color string
		text  string
	}{
		{client.Attempt{StatusCode: status(200)}, colorGreen, "ok"},
		{client.Attempt{StatusCode: status(503), Error: class("http_status"), NextRetryAt: &at}, colorYellow, "http_status, retry at 2026-05-08T10:15:00Z"},
		{client.Attempt{Error: class("refused"), ErrorMessage: "connection refused"}, colorRed, "refused, no retry: connection refused"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		e := &apiEnv{stdout: &out, output: "table"}
		if err := e.tailLine(tt.a, true); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); !strings.HasPrefix(got, tt.color) || !strings.Contains(got, tt.text) || !strings.HasSuffix(got, colorReset+"\n") {
			t.Errorf("tail line = %q, want %q in colour %q", got, tt.text, tt.color)
		}
	}
}

func TestColored(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	var buf bytes.Buffer
	tests := []struct {
		color string
		vars  map[string]string
		want  bool
	}{
		{"auto", nil, false}, // a buffer is not a terminal
		{"always", map[string]string{"NO_COLOR": "1"}, true},
		{"never", nil, false},
	}
	for _, tt := range tests {
		e := &apiEnv{getenv: env(tt.vars), color: tt.color}
		if got := e.colored(&buf); got != tt.want {
			t.Errorf("colored with --color %s, env %v = %v, want %v", tt.color, tt.vars, got, tt.want)
		}
	}
}
