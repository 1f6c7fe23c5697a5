package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// child is a `herald serve` process started for the run.
type child struct {
	cmd      *exec.Cmd
	url      string
	adminKey string
	log      *tail
	exited   chan struct{} // closed when the process has exited
	waitErr  error         // set before exited is closed
	dir      string        // temporary directory (SQLite file, key file)
	dropDB   func() error  // drops the PostgreSQL database, if one was made
	stopWait time.Duration
}

var listeningRe = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startChild starts `cfg.Binary serve` on 127.0.0.1 with a free port and a
// database of its own, and waits until it is ready.
func startChild(ctx context.Context, cfg Config) (_ *child, err error) {
	c := &child{adminKey: "hka_bench_" + rand.Text(), log: &tail{max: 64}, exited: make(chan struct{}), stopWait: cfg.StopTimeout}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	if c.dir, err = os.MkdirTemp("", "herald-bench-"); err != nil {
		return nil, err
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--admin-key", c.adminKey,
		"--allow-destinations", "127.0.0.1/32", "--retention", "0"}
	if cfg.Database == "" {
		args = append(args, "--database", filepath.Join(c.dir, "herald.db"))
	} else {
		db, drop, err := createDatabase(ctx, cfg.Database, cfg.RequestTimeout)
		if err != nil {
			return nil, err
		}
		c.dropDB = drop
		args = append(args, "--database", db, "--secret-key", newSecretKey())
	}
	args = append(args, cfg.ServerFlags...)
	c.cmd = exec.Command(cfg.Binary, args...)
	c.cmd.Env = childEnv()
	c.cmd.Dir = c.dir
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Binary, err)
	}
	addr := make(chan string, 1)
	go c.read(stderr, addr)
	go func() { c.waitErr = c.cmd.Wait(); close(c.exited) }()

	deadline := time.NewTimer(cfg.ReadyTimeout)
	defer deadline.Stop()
	select {
	case a := <-addr:
		c.url = "http://" + a
	case <-c.exited:
		return nil, fmt.Errorf("herald serve exited (%v) before listening:\n%s", c.waitErr, c.log)
	case <-deadline.C:
		return nil, fmt.Errorf("herald serve did not listen within --ready-timeout %s:\n%s", cfg.ReadyTimeout, c.log)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := c.waitReady(ctx, deadline.C); err != nil {
		return nil, fmt.Errorf("%w (--ready-timeout %s):\n%s", err, cfg.ReadyTimeout, c.log)
	}
	return c, nil
}

// read keeps the last lines of the child's log and sends the address it
// listens on once it says so. It reads until the pipe closes, so that the
// child never blocks on a full pipe.
func (c *child) read(r io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		c.log.add(line)
		if sent {
			continue
		}
		if m := listeningRe.FindStringSubmatch(line); m != nil {
			addr <- m[1]
			sent = true
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// waitReady polls /readyz until it answers 200.
func (c *child) waitReady(ctx context.Context, deadline <-chan time.Time) error {
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(c.url + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-c.exited:
			return fmt.Errorf("herald serve exited (%v) before it was ready", c.waitErr)
		case <-deadline:
			return errors.New("herald serve was not ready")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stop ends the child with SIGTERM (SIGKILL after StopTimeout), then drops
// its database and removes its directory.
func (c *child) stop() error {
	var errs []error
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(c.stopWait)
		select {
		case <-c.exited:
		case <-t.C:
			_ = c.cmd.Process.Kill()
			<-c.exited
			errs = append(errs, fmt.Errorf("herald serve did not stop within --stop-timeout %s; killed", c.stopWait))
		}
		t.Stop()
	}
	if c.dropDB != nil {
		errs = append(errs, c.dropDB())
	}
	if c.dir != "" {
		errs = append(errs, os.RemoveAll(c.dir))
	}
	return errors.Join(errs...)
}

// pid returns the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// childEnv is this process's environment without HERALD_ variables, so
// that only the harness's flags and --server-flag configure the child.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	return env
}

// newSecretKey returns a fresh --secret-key: 32 random bytes, base64.
func newSecretKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails
	return base64.StdEncoding.EncodeToString(b)
}

// createDatabase creates a database named herald_bench_<random> on the
// PostgreSQL server of base and returns its URL and a function that drops
// it (ending its connections first).
func createDatabase(ctx context.Context, base string, timeout time.Duration) (string, func() error, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("invalid --database: %v", err)
	}
	name := "herald_bench_" + strings.ToLower(rand.Text()[:16])
	admin := func(ctx context.Context, sql string) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, err = conn.Exec(ctx, sql)
		return err
	}
	ident := pgx.Identifier{name}.Sanitize()
	if err := admin(ctx, "CREATE DATABASE "+ident); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u.Path = "/" + name
	drop := func() error {
		if err := admin(context.Background(), "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	return u.String(), drop, nil
}

// tail keeps the last max lines written to it.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
