package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Remove()
	os.Exit(code)
}

// buildHerald builds the herald binary once for the tests that run it as a
// separate process.
var buildHerald = testbin.Herald

// process is `herald serve` running as a child process.
type process struct {
	cmd *exec.Cmd
	url string
}

func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	bin, err := buildHerald()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`msg=listening addr=(\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		return &process{cmd: cmd, url: "http://" + a}
	case <-time.After(60 * time.Second):
		t.Fatal("herald serve did not start listening within 60s")
	}
	return nil
}

// TestNothingAcceptedIsLost posts events from many goroutines to a herald
// process, kills it with SIGKILL while they are in flight, restarts it, and
// checks that every event answered 202 is there with its delivery.
func TestNothingAcceptedIsLost(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the herald binary")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "herald.db")
	const admin = "crash-test-admin-key-0123456789"
	// --role api: this test is about ingest; its endpoint must not be
	// reached (TestCrashDeliversEverything covers delivery).
	p := startProcess(t, "--database", db, "--admin-key", admin, "--role", "api")

	if code := call(t, "POST", p.url+"/v1/tenants", admin, map[string]any{"id": "acme"}, nil); code != 201 {
		t.Fatalf("create tenant: %d", code)
	}
	var ep struct{ ID string }
	if code := call(t, "POST", p.url+"/v1/webhook-endpoints", admin, map[string]any{
		"tenantId": "acme", "url": "https://merchant.example.com/hooks", "events": []string{"order.*"},
	}, &ep); code != 201 {
		t.Fatalf("create endpoint: %d", code)
	}

	const workers = 16
	var (
		mu       sync.Mutex
		accepted []string
		sent     atomic.Int64
		wg       sync.WaitGroup
		killed   = make(chan struct{})
		enough   = make(chan struct{}) // closed when 500 requests were answered
		once     sync.Once
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ { // bounded: stops by itself
				select {
				case <-killed:
					return
				default:
				}
				id := fmt.Sprintf("ord_%d_%d", w, i)
				code, err := tryPost(p.url+"/v1/events", admin, map[string]any{
					"id": id, "tenantId": "acme", "type": "order.shipped", "data": map[string]any{"n": i},
				})
				if err != nil {
					return // the server is gone
				}
				if sent.Add(1) == 500 {
					once.Do(func() { close(enough) })
				}
				if code == 202 {
					mu.Lock()
					accepted = append(accepted, id)
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once a good number of requests have been answered, while the
	// workers are still posting.
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatalf("only %d requests answered in 60s", sent.Load())
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	close(killed)
	_ = p.cmd.Wait()
	wg.Wait()
	if len(accepted) < 100 {
		t.Fatalf("only %d events accepted before the kill", len(accepted))
	}

	q := startProcess(t, "--database", db, "--admin-key", admin, "--role", "api")
	for _, id := range accepted {
		var dl struct{ Data []struct{ EndpointID string } }
		if code := call(t, "GET", q.url+"/v1/events/"+id+"/deliveries", admin, nil, &dl); code != 200 {
			t.Fatalf("event %s was answered 202 but is gone after SIGKILL: status %d", id, code)
		}
		if len(dl.Data) != 1 || dl.Data[0].EndpointID != ep.ID {
			t.Fatalf("event %s: deliveries %+v, want one to %s", id, dl.Data, ep.ID)
		}
	}
	t.Logf("%d events accepted before SIGKILL, all present after restart", len(accepted))
}
