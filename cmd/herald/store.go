package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/postgres"
	"github.com/heraldhq/herald/internal/seal"
	"github.com/heraldhq/herald/internal/sqlite"
)

// openStore opens the database named by --database. With SQLite and no
// --secret-key, the key that seals endpoint secrets lives in a file beside
// the database, created on first use with mode 0600.
func openStore(ctx context.Context, database string, secretKey []byte, log *slog.Logger) (hook.Store, error) {
	if isPostgres(database) {
		box, err := seal.New(secretKey) // required with PostgreSQL: parse checked it
		if err != nil {
			return nil, err
		}
		db, err := postgres.Open(ctx, database, postgres.Options{Secrets: box, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err) // the URL may hold a password: not repeated
		}
		return db, nil
	}
	if secretKey == nil {
		var err error
		if secretKey, err = keyFile(database+".key", database); err != nil {
			return nil, err
		}
	}
	box, err := seal.New(secretKey)
	if err != nil {
		return nil, err
	}
	db, err := sqlite.Open(ctx, database, sqlite.Options{Secrets: box, Logger: log})
	if errors.Is(err, sqlite.ErrInUse) {
		return nil, err // it names the database already
	}
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", database, err)
	}
	return db, nil
}

// keyFile reads the secret key stored at path, or creates it when the
// database is new. A database that exists without its key file is refused:
// a fresh key could not open the secrets sealed with the lost one.
func keyFile(path, database string) ([]byte, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if st, err := os.Stat(database); err == nil && st.Size() > 0 {
			return nil, fmt.Errorf("database %s exists but its secret key file %s is missing: give --secret-key or restore the file", database, path)
		}
	}
	if err := createKeyFile(path); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret key file: %w", err)
	}
	key, err := seal.ParseKey(string(bytes.TrimSpace(b)))
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %v", path, err)
	}
	return key, nil
}

// createKeyFile writes a new key to path unless a file is there. The key is
// written to a temporary file and synced before it is linked into place, so
// a crash never leaves an empty or partial key file, and two processes
// starting together keep one key.
func createKeyFile(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create secret key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(seal.NewKey() + "\n")
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write secret key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create secret key file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new name durable; best effort
		d.Close()
	}
	return nil
}
