package hook

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRotate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 8, 10, 0, 0, 0, time.UTC)
	hour := func(n int) time.Time { return now.Add(time.Duration(n) * time.Hour) }
	full := []Secret{{Key: "whsec_cur"}}
	for i := range MaxOldSecrets {
		full = append(full, Secret{Key: fmt.Sprintf("whsec_old%d", i), ExpiresAt: hour(i + 1)})
	}
	tests := []struct {
		name    string
		secrets []Secret
		r       SecretRotation
		want    []Secret
		err     error
	}{
		{
			name:    "first rotation",
			secrets: []Secret{{Key: "whsec_a"}},
			r:       SecretRotation{Key: "whsec_b", ExpireOld: hour(24), Now: now},
			want:    []Secret{{Key: "whsec_b"}, {Key: "whsec_a", ExpiresAt: hour(24)}},
		},
		{
			name:    "expired old secrets dropped",
			secrets: []Secret{{Key: "whsec_b"}, {Key: "whsec_a", ExpiresAt: now}, {Key: "whsec_z", ExpiresAt: hour(1)}},
			r:       SecretRotation{Key: "whsec_c", ExpireOld: hour(24), Now: now},
			want:    []Secret{{Key: "whsec_c"}, {Key: "whsec_b", ExpiresAt: hour(24)}, {Key: "whsec_z", ExpiresAt: hour(1)}},
		},
		{
			name:    "zero overlap revokes the current secret",
			secrets: []Secret{{Key: "whsec_a"}},
			r:       SecretRotation{Key: "whsec_b", ExpireOld: now, Now: now},
			want:    []Secret{{Key: "whsec_b"}},
		},
		{
			name:    "expiry truncated to the microsecond",
			secrets: []Secret{{Key: "whsk_a"}},
			r:       SecretRotation{Key: "whsk_b", ExpireOld: hour(1).Add(1500), Now: now},
			want:    []Secret{{Key: "whsk_b"}, {Key: "whsk_a", ExpiresAt: hour(1).Add(1000)}},
		},
		{
			name:    "eleventh old secret",
			secrets: full,
			r:       SecretRotation{Key: "whsec_new", ExpireOld: hour(24), Now: now},
			err:     ErrTooManySecrets,
		},
		{
			name:    "eleventh when one has expired",
			secrets: full,
			r:       SecretRotation{Key: "whsec_new", ExpireOld: hour(24), Now: hour(1)},
			want:    append([]Secret{{Key: "whsec_new"}, {Key: "whsec_cur", ExpiresAt: hour(24)}}, full[2:]...),
		},
		{
			name:    "same key",
			secrets: []Secret{{Key: "whsec_a"}},
			r:       SecretRotation{Key: "whsec_a", ExpireOld: hour(1), Now: now},
			err:     ErrConflict,
		},
		{
			name:    "another kind of key",
			secrets: []Secret{{Key: "whsec_a"}},
			r:       SecretRotation{Key: "whsk_b", ExpireOld: hour(1), Now: now},
			err:     ErrConflict,
		},
	}
	for _, tc := range tests {
		got, err := Rotate(tc.secrets, tc.r)
		if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s: secrets mismatch (-want +got):\n%s", tc.name, d)
		}
	}
	if !errors.Is(ErrTooManySecrets, ErrConflict) {
		t.Error("ErrTooManySecrets is not an ErrConflict")
	}
}

func TestNewPing(t *testing.T) {
	t.Parallel()
	ep := Endpoint{ID: "ep_1", TenantID: "acme"}
	ev := NewPing(ep, time.Date(2026, 5, 8, 10, 0, 0, 123456789, time.Local))
	var data map[string]string
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"endpointId": "ep_1", "tenantId": "acme"}
	if d := cmp.Diff(want, data); d != "" || ev.Type != "herald.ping" || ev.TenantID != "acme" ||
		ev.CreatedAt.Location() != time.UTC || ev.CreatedAt.Nanosecond() != 123456000 {
		t.Errorf("ping = %+v, data %s", ev, d)
	}
}
