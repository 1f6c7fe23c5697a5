package webhook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// A receiver verifies each delivery, runs its handler once per event id,
// and answers a redelivery of a processed event 200 without running it.
func ExampleReceiver() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the endpoint's secret, from your configuration

	verifier, err := webhook.NewVerifier([]string{secret})
	if err != nil {
		log.Fatal(err)
	}
	receiver := &webhook.Receiver{Verifier: verifier, Store: webhook.NewMemoryStore(100_000)}
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks", receiver.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var event struct{ ID, Type string }
		if err := json.NewDecoder(r.Body).Decode(&event); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest) // not 2xx: the sender will retry
			return
		}
		fmt.Println("handling", event.Type, event.ID)
	})))
	server := httptest.NewServer(mux) // in real code: http.ListenAndServe(addr, mux)
	defer server.Close()

	// Herald's side: the same event delivered twice.
	signer, _ := webhook.NewSigner(webhook.SchemeStandard, secret)
	body := []byte(`{"id":"evt_981","type":"payout.paid","data":{}}`)
	for range 2 {
		req, _ := http.NewRequest("POST", server.URL+"/webhooks", bytes.NewReader(body))
		req.Header, _ = signer.Sign("evt_981", time.Now(), body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	// Output:
	// handling payout.paid evt_981
	// 200 OK
	// 200 OK
}

func ExampleVerify() {
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	body := []byte(`{"test": 2432232314}`)
	keys := []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}

	// Signed in 2021: genuine, but too old to accept now.
	err := webhook.Verify(h, body, keys)
	fmt.Println(errors.Is(err, webhook.ErrTimestampTooOld))

	// At the time it was signed, it verifies.
	signedAt := func() time.Time { return time.Unix(1614265330, 0) }
	fmt.Println(webhook.Verify(h, body, keys, webhook.WithClock(signedAt)))
	// Output:
	// true
	// <nil>
}

func ExampleSigner_Sign() {
	// During a rotation both the old and the new secret sign.
	signer, err := webhook.NewSigner(webhook.SchemeStandard,
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
	if err != nil {
		log.Fatal(err)
	}
	h, err := signer.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		fmt.Printf("%s: %s\n", name, h.Get(name))
	}
	// Output:
	// webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek
	// webhook-timestamp: 1614265330
	// webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,78nXHjpFP0tVJQW5D0SBwmVyyW87BV/rL6MgfM/Bw44=
}

func ExamplePublicKey() {
	// The sender keeps the whsk_ signing key; receivers get the whpk_ key.
	pub, err := webhook.PublicKey("whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==")
	fmt.Println(pub, err)
	// Output:
	// whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4= <nil>
}
