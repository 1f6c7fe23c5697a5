package sqlite_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/hook"
	"github.com/heraldhq/herald/internal/seal"
	"github.com/heraldhq/herald/internal/sqlite"
)

// TestOpenTwice opens a database that is open: refused, through a symbolic
// link too, until the first DB is closed.
func TestOpenTwice(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	db := openTest(t, path)
	_, err := sqlite.Open(t.Context(), path, sqlite.Options{Secrets: newBox(t, testKey)})
	if !errors.Is(err, sqlite.ErrInUse) {
		t.Fatalf("second Open: err = %v, want ErrInUse", err)
	}
	if want := "database " + path + " is in use by another process"; err.Error() != want {
		t.Errorf("second Open: %q, want %q", err, want)
	}
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(path, link); err == nil {
		_, err := sqlite.Open(t.Context(), link, sqlite.Options{Secrets: newBox(t, testKey)})
		if !errors.Is(err, sqlite.ErrInUse) {
			t.Errorf("Open through a symbolic link: err = %v, want ErrInUse", err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	again, err := sqlite.Open(t.Context(), path, sqlite.Options{Secrets: newBox(t, testKey)})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestOpenOtherProcess opens a database in this process and again in a
// child process, which must be refused.
func TestOpenOtherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	openTest(t, path)
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	cmd := exec.CommandContext(t.Context(), exe, "-test.run=^TestLockHelper$")
	cmd.Env = append(os.Environ(), "HERALD_TEST_LOCK_HELPER="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	if want := "database " + path + " is in use by another process"; !strings.Contains(string(out), want) {
		t.Errorf("child process said:\n%s\nwant %q", out, want)
	}
}

// TestLockHelper is the child process of TestOpenOtherProcess.
func TestLockHelper(t *testing.T) {
	path := os.Getenv("HERALD_TEST_LOCK_HELPER")
	if path == "" {
		t.Skip("run by TestOpenOtherProcess")
	}
	db, err := sqlite.Open(t.Context(), path, sqlite.Options{Secrets: newBox(t, testKey)})
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded while another process has the database open")
	}
	if !errors.Is(err, sqlite.ErrInUse) {
		t.Fatalf("Open: %v, want ErrInUse", err)
	}
	fmt.Println(err)
}

func TestOpenOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := sqlite.Open(t.Context(), filepath.Join(dir, "a.db"), sqlite.Options{}); err == nil {
		t.Error("Open without Secrets succeeded")
	}
	for _, path := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if _, err := sqlite.Open(t.Context(), path, sqlite.Options{Secrets: newBox(t, testKey)}); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
	// Characters that mean something in a URI are part of the file name.
	odd := filepath.Join(dir, "a?b#c %41.db")
	db := openTest(t, odd)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := os.Stat(odd); err != nil {
		t.Errorf("database file: %v", err)
	}
}

// TestWrongKey shows that secrets sealed with one key do not open with
// another: reading the endpoint fails rather than returning garbage.
func TestWrongKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	db := openTest(t, path)
	if err := db.CreateTenant(t.Context(), hook.Tenant{ID: "acme", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ep := hook.Endpoint{ID: "ep_1", TenantID: "acme", Events: []string{}, Secrets: []hook.Secret{{Key: "whsec_x"}}, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateEndpoint(t.Context(), ep); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	other, err := sqlite.Open(t.Context(), path, sqlite.Options{Secrets: newBox(t, make([]byte, seal.KeySize))})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Endpoint(t.Context(), "ep_1"); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("Endpoint with the wrong key: err = %v, want seal.ErrOpen", err)
	}
}
