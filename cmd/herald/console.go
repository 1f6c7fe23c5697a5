package main

import (
	"errors"

	"github.com/heraldhq/herald/internal/console"
)

// consoleKey returns the secret key material the web console derives its
// signing keys from: the --secret-key, or the key file beside the SQLite
// database (which openStore has created by now).
func consoleKey(cfg serveConfig) ([]byte, error) {
	if cfg.SecretKey != nil || isPostgres(cfg.Database) {
		return cfg.SecretKey, nil
	}
	return keyFile(cfg.Database+".key", cfg.Database)
}

// parseFrameAncestors reads --frame-ancestors: origins that may frame the
// console, comma-separated.
func parseFrameAncestors(s string) ([]string, error) {
	out := splitList(s)
	for _, o := range out {
		if err := console.CheckOrigin(o); err != nil {
			return nil, errors.New(err.Error())
		}
	}
	return out, nil
}
