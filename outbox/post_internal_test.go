package outbox

import (
	"net/http"
	"testing"
	"time"
)

func TestNextBackoff(t *testing.T) {
	t.Parallel()
	lo, hi := time.Second, time.Minute
	var d time.Duration
	for i := range 20 {
		prev := d
		d = nextBackoff(d, lo, hi)
		if d < lo*4/5 || d > hi {
			t.Fatalf("step %d: backoff %v outside [%v, %v]", i, d, lo*4/5, hi)
		}
		if i < 5 && d < prev {
			t.Errorf("step %d: backoff %v shrank from %v", i, d, prev)
		}
	}
	if d < hi*4/5 {
		t.Errorf("after 20 failures the backoff is %v, want near the cap %v", d, hi)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0}, {"0", 0}, {"7", 7 * time.Second}, {"-3", 0}, {"soon", 0},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0},
	} {
		if got := retryAfter(http.Header{"Retry-After": {tc.header}}); got != tc.want {
			t.Errorf("Retry-After %q: got %v, want %v", tc.header, got, tc.want)
		}
	}
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if got := retryAfter(http.Header{"Retry-After": {future}}); got < 58*time.Minute || got > time.Hour {
		t.Errorf("Retry-After an hour ahead: got %v", got)
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		want   verdict
	}{
		{200, relayed}, {202, relayed}, {400, dead}, {409, dead}, {413, dead}, {422, dead},
		{408, retry}, {429, retry}, {500, retry}, {503, retry},
	} {
		if got := judge(tc.status, problem{}, 0).verdict; got != tc.want {
			t.Errorf("status %d: verdict %v, want %v", tc.status, got, tc.want)
		}
	}
	pr := problem{Detail: "The request has invalid fields; see errors."}
	pr.Errors = append(pr.Errors, struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	}{"tenantId", `no tenant "x" exists`})
	if got, want := judge(400, pr, 0).reason, `400: tenantId: no tenant "x" exists`; got != want {
		t.Errorf("reason: got %q, want %q", got, want)
	}
	if got, want := judge(409, problem{Detail: "taken"}, 0).reason, "409: taken"; got != want {
		t.Errorf("reason: got %q, want %q", got, want)
	}
}

func TestChunks(t *testing.T) {
	t.Parallel()
	big := string(make([]byte, maxBatchData/2))
	rows := []row{{data: big}, {data: big}, {data: "{}"}, {data: big}}
	got := chunks(rows, []int{0, 1, 2, 3})
	if len(got) != 3 || len(got[0]) != 1 || len(got[1]) != 2 || len(got[2]) != 1 {
		t.Errorf("chunks: %v, want [[0] [1 2] [3]]", got)
	}
	if got := chunks(rows, []int{2}); len(got) != 1 || len(got[0]) != 1 {
		t.Errorf("one small row: %v", got)
	}
}
