// Package webhook signs and verifies webhooks by the Standard Webhooks
// specification, and receives them safely: verified, once.
//
// Herald signs every request it delivers with this package, and a consumer
// can verify them with it (or with any Standard Webhooks library). It
// depends only on the standard library.
//
// # Keys
//
// A symmetric secret is "whsec_" followed by the standard base64 of 24 to 64
// random bytes; sender and receiver share it. An asymmetric key pair is a
// "whsk_" signing key, which stays with the sender, and a "whpk_" public
// key, which receivers may publish. NewSecret and NewSigningKey make keys;
// ParseSecret, ParseSigningKey and ParsePublicKey read them and say what is
// wrong with a bad one.
//
// # Schemes
//
// A request signed by Standard Webhooks (SchemeStandard, or SchemeEd25519)
// carries three headers:
//
//	webhook-id: evt_981
//	webhook-timestamp: 1778235300
//	webhook-signature: v1,MHF2gkDJ6mVx7cIspOwPsiApeJlf8EuvlIkrPRMq4Q4=
//
// The signature is over id "." timestamp "." body: an HMAC-SHA256 keyed with
// the decoded secret ("v1"), or an ed25519 signature ("v1a"). During a key
// rotation every key signs, and the entries are separated by spaces.
//
// SchemeXSignature sends instead the Stripe-style header
// "X-Signature: t=<unix>,v1=<hex>", an HMAC-SHA256 over timestamp "." body
// keyed with the whole secret string. Every scheme sends webhook-id, the
// event id by which a receiver deduplicates.
//
// # Sending
//
// A Signer signs with one scheme and one or more keys and returns the
// headers to set on the request.
//
// # Receiving
//
// A Verifier holds a trust list of keys (whsec_ secrets and whpk_ public
// keys) and checks a request's headers and raw body: a signature made by one
// of the keys, a timestamp within five minutes of now (both adjustable by
// Option). Failures wrap exported errors such as ErrNoMatchingSignature and
// ErrTimestampTooOld. It accepts the svix-* header names too.
//
// Delivery is at least once: a sender that did not see a 2xx in time sends
// the same event again, with the same webhook-id. Receiver.Middleware
// verifies each request and deduplicates by webhook-id through a Store,
// MemoryStore in one process, or SQLStore (SQLite or PostgreSQL) shared by
// several: a processed id is answered 200 without running the handler
// again, and an id still being processed is answered 409, so that the sender
// retries later rather than lose the event if the first attempt fails.
package webhook
