package dispatch

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/hook"
)

// TestEnvelope holds envelope to the envelope that json.Marshal makes of
// the same fields, byte for byte, whatever the id and type hold.
func TestEnvelope(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 6, 10, 15, 0, 123456789, time.FixedZone("IST", 19800))
	for _, ev := range []hook.Event{
		{ID: "evt_1", Type: "payout.paid", CreatedAt: at, Data: json.RawMessage(`{"a":1}`)},
		{ID: "evt_01JABCDEF", Type: "bench.e3", CreatedAt: at.Truncate(time.Second), Data: json.RawMessage(`[]`)},
		{ID: `odd"id\<&>`, Type: "tÿpe\u2028\x01", CreatedAt: time.Unix(0, 0), Data: json.RawMessage(`null`)},
	} {
		want, err := json.Marshal(struct {
			ID        string          `json:"id"`
			Type      string          `json:"type"`
			CreatedAt time.Time       `json:"createdAt"`
			Data      json.RawMessage `json:"data"`
		}{ev.ID, ev.Type, ev.CreatedAt.UTC(), ev.Data})
		if err != nil {
			t.Fatal(err)
		}
		if got := envelope(ev); string(got) != string(want) {
			t.Errorf("envelope = %s, want %s", got, want)
		}
	}
}
