// Package testbin builds the herald binary for tests that run it as a child
// process: once per test binary, into a temporary directory that Remove
// deletes (call it from TestMain after the tests).
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

var (
	mu    sync.Mutex
	dir   string
	build = sync.OnceValues(func() (string, error) {
		d, err := os.MkdirTemp("", "herald-bin-")
		if err != nil {
			return "", err
		}
		mu.Lock()
		dir = d
		mu.Unlock()
		bin := filepath.Join(d, "herald")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/heraldhq/herald/cmd/herald").CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("go build: %v\n%s", err, out)
		}
		return bin, nil
	})
)

// Herald returns the path of the herald binary, building it the first time.
func Herald() (string, error) { return build() }

// Remove deletes the binary, if Herald built it.
func Remove() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
}
